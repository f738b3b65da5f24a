"""Dump rows as plain mappings for `select` and `assemble`, through `judgecraft.io`'s reader.

Those commands need whole rows (a `completions` list, `trajectories`, a grouping column), not the
scoring Records `judge` reads; the bytes still come from `io.iter_raw_rows`, so JSONL and Parquet
work alike and a bad line is kept as a row with its error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judgecraft.io import Fields, iter_raw_rows


@dataclass
class MappingRow:
    row: int  # 0-based, as in `judgecraft score` output
    data: dict[str, Any] | None
    error: str | None = None


def read_mappings(path: str | Path, columns: Sequence[str]) -> Iterator[MappingRow]:
    """Every row of a JSONL or Parquet dump; for Parquet only `columns` are read."""
    wanted = Fields(answer=tuple(dict.fromkeys(c for c in columns if c)))  # the reader selects Fields.columns
    for raw in iter_raw_rows(path, wanted):
        if isinstance(raw.payload, dict):
            yield MappingRow(raw.row, raw.payload)
            continue
        line = raw.payload.strip()
        if not line:
            continue
        try:
            data = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as err:
            yield MappingRow(raw.row, None, f"row {raw.row} is not valid UTF-8 ({err.reason} at byte {err.start})")
            continue
        except ValueError as err:
            yield MappingRow(raw.row, None, f"row {raw.row} is not JSON ({err})"[:300])
            continue
        if isinstance(data, dict):
            yield MappingRow(raw.row, data)
        else:
            yield MappingRow(raw.row, None, f"row {raw.row} is a JSON {type(data).__name__}, not an object")


def jsonl_text(records: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
