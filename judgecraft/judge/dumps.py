"""Reading generation dumps for the judge's commands, row by row, without ever dropping one.

A line that is not valid UTF-8, not JSON, or not an object becomes a row with an error, and the
commands write it to their output with that error, so the output always accounts for every input
line. Field names are configurable; the usual spellings are recognised.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROMPT_FIELDS = ("prompt", "question", "problem", "messages")
COMPLETION_FIELDS = ("completion", "response", "output", "generation")
ANSWER_FIELDS = ("answer", "solution", "gold", "ground_truth")
ID_FIELDS = ("id", "idx", "row_id")


@dataclass
class Row:
    line: int  # 1-based line number in the dump
    data: dict[str, Any] | None
    error: str | None = None

    def get(self, names: Sequence[str], default: Any = None) -> Any:
        if self.data is None:
            return default
        for name in names:
            if name in self.data and self.data[name] is not None:
                return self.data[name]
        return default


def read_jsonl(path: str | Path) -> Iterator[Row]:
    """Every line of a JSONL file as a Row (blank lines skipped); bad lines carry an error instead of data."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield Row(number, None, f"line {number} is not valid UTF-8 ({err.reason} at byte {err.start})")
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as err:
                yield Row(number, None, f"line {number} is not JSON ({err.msg} at column {err.colno})")
                continue
            if not isinstance(data, dict):
                yield Row(number, None, f"line {number} is a JSON {type(data).__name__}, not an object")
                continue
            yield Row(number, data)


class AtomicJsonlWriter:
    """Writes JSONL to a temporary file and moves it into place on success: no half-written output."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._f = open(self.tmp, "w", encoding="utf-8")  # noqa: SIM115
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.count += 1

    def write_all(self, records: Iterable[dict[str, Any]]) -> None:
        for r in records:
            self.write(r)

    def __enter__(self) -> AtomicJsonlWriter:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self._f.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def fields(given: str | None, defaults: Sequence[str]) -> tuple[str, ...]:
    return (given,) if given else tuple(defaults)
