"""One input row, decoded and normalised once: the completion's text, the gold answer, the prompt.

Every entry point (the `score` command, Ray batches, TRL and verl rewards) reads rows through the
helpers here, so a row means the same thing everywhere, and a row that cannot be read becomes a
`Record` with an `error`, never an exception: recursion bombs (`[[[[...`), lines over the size
bound, invalid UTF-8, non-object JSON, `NaN`/`Infinity`, empty lines.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_ANSWER_FIELDS = ("answer", "solution")
MAX_LINE_BYTES = 16 * 1024 * 1024  # a longer JSONL line is an error row, read past without keeping it
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Fields:
    """Which input columns hold what. `answer` lists candidates: the first present, non-null one wins."""

    prompt: str = "prompt"
    completion: str = "completion"
    answer: tuple[str, ...] = DEFAULT_ANSWER_FIELDS
    id: str = "id"
    prefill: str = "prefill"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.id, self.prompt, self.completion, self.prefill, *self.answer)


@dataclass(slots=True)
class Record:
    """One input row, ready to score, or with the `error` that kept it from being scored."""

    row: int  # 0-based position in the input file (the line number minus one, for JSONL)
    id: Any  # the row's own id, or its row number when it has none
    completion: str | None = None
    prompt: Any = None  # a string, a list of chat messages, or None
    answer: str | None = None  # the gold answer as text (see `gold_text`)
    prefill: str | None = None
    error: str | None = None


# ---------------------------------------------------------------- values


def first_present(row: Mapping[str, Any], names: Sequence[str]) -> Any:
    """The value of the first of `names` that the row has and that is not None."""
    return next((row[n] for n in names if row.get(n) is not None), None)


def content_text(content: Any) -> str | None:
    """A chat message's content as text: a string, or OpenAI-style content parts; None if neither."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
        if all(isinstance(t, str) for t in texts):
            return "".join(texts)
    return None


def completion_text(completion: Any) -> str | None:
    """The text of a completion: a string as is, or the assistant content of a conversational completion.

    Conversational completions are TRL's `[{"role": "assistant", "content": ...}]` (a single message
    dict is accepted too). Returns None when the value is neither, so the caller can say why.

    >>> completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "42"}])
    '42'
    >>> completion_text(7) is None
    True
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, list | tuple) and completion and all(isinstance(m, dict) for m in completion):
        roles = {m.get("role") for m in completion}
        chosen = [m for m in completion if m.get("role") == "assistant"] if "assistant" in roles else completion
        texts = [content_text(m.get("content")) for m in chosen]
        if all(t is not None for t in texts):
            return "".join(texts)  # type: ignore[arg-type]
    return None


def usable_prompt(prompt: Any) -> Any:
    """The prompt if the scorer can read it (text or a list of message dicts), else None."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list | tuple) and all(isinstance(m, dict) for m in prompt):
        return list(prompt)
    return None


def gold_text(ground_truth: Any) -> str | None:
    """A gold answer as text: a string, a number, or a list/array of acceptable answers (the first is used).

    verl stores ground truth that way, and TRL datasets and dumps often do too; every path uses this,
    so they agree. Blank text, None and NaN mean "no gold answer".

    >>> gold_text(["24", "twenty-four"]), gold_text(24), gold_text("  ")
    ('24', '24', None)
    """
    if hasattr(ground_truth, "tolist") and not isinstance(ground_truth, str | bytes):
        ground_truth = ground_truth.tolist()
    if isinstance(ground_truth, list | tuple):
        ground_truth = ground_truth[0] if ground_truth else None
    if isinstance(ground_truth, float) and not math.isfinite(ground_truth):
        return None
    if ground_truth is None or (isinstance(ground_truth, str) and not ground_truth.strip()):
        return None
    return str(ground_truth)


def answers_from(columns: Mapping[str, Any], n: int, fields: Sequence[str]) -> list[str | None]:
    """The gold answers of a batch: the first of `fields` given as a column of length n, as `gold_text`."""
    for name in fields:
        column = columns.get(name)
        if isinstance(column, list | tuple) and len(column) == n:
            return [gold_text(a) for a in column]
    return [None] * n


def row_id(value: Any, row: int) -> Any:
    """A row's id as it can be written: its own id, or the row number when it has none (None or NaN)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return row
    return value


# ---------------------------------------------------------------- decoding


def record_from_mapping(data: Any, row: int, fields: Fields) -> Record:
    """Turn one decoded row into a Record; anything that prevents scoring becomes its `error`."""
    if not isinstance(data, dict):
        return Record(row, row, error=f"row is a JSON {type(data).__name__}, not an object")
    prompt = data.get(fields.prompt)
    prefill = data.get(fields.prefill)
    record = Record(row, row_id(data.get(fields.id), row), prompt=usable_prompt(prompt))
    record.answer = gold_text(first_present(data, fields.answer))
    record.prefill = prefill if isinstance(prefill, str) else None
    if fields.completion not in data:
        record.error = f"missing field {fields.completion!r}"
        return record
    value = data[fields.completion]
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError as err:
            record.error = f"{fields.completion!r} is not valid UTF-8 ({err.reason} at byte {err.start})"
            return record
    text = completion_text(value)
    if text is None:
        kind = "null" if value is None else type(value).__name__
        record.error = f"{fields.completion!r} is {kind}, not text or chat messages"
        return record
    record.completion = text
    if prompt is not None and record.prompt is None:
        record.error = f"{fields.prompt!r} ignored: it is {type(prompt).__name__}, not text or chat messages"
    return record


def loads_lenient(text: str) -> tuple[Any, str | None]:
    """JSON text to a value, with `NaN`/`Infinity` (not JSON, but Python writes them) read as null.

    Returns (value, note about what was read as null). Raises ValueError for anything that is not
    JSON, including nesting too deep to decode (which raises RecursionError inside `json`).
    """
    constants: list[str] = []

    def constant(name: str) -> None:
        constants.append(name)

    try:
        value = json.loads(text, parse_constant=constant)
    except RecursionError:
        raise ValueError("nested too deeply to decode") from None
    note = f"non-JSON constant {constants[0]} read as null" if constants else None
    return value, note


def record_from_line(raw: bytes | int, row: int, fields: Fields, max_bytes: int = MAX_LINE_BYTES) -> Record:
    """Decode one JSONL line (bytes, newline included or not) into a Record.

    `raw` may be an int: the length of a line the reader skipped because it was over `max_bytes`.
    """
    if isinstance(raw, int) or len(raw) > max_bytes:
        size = raw if isinstance(raw, int) else len(raw)
        return Record(row, row, error=f"line is too long ({size} bytes; the limit is {max_bytes})")
    stripped = raw.strip()
    if stripped.startswith(_BOM):  # a UTF-8 byte order mark before the first row
        stripped = stripped[len(_BOM) :].strip()
    if not stripped:
        return Record(row, row, error="empty line")
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError as err:
        record = Record(row, row, error=f"line is not valid UTF-8 ({err.reason} at byte {err.start})")
        try:  # keep the row's id when the rest of the line is readable, so the user can find it
            salvaged, _ = loads_lenient(stripped.decode("utf-8", errors="replace"))
            if isinstance(salvaged, dict):
                record.id = row_id(salvaged.get(fields.id), row)
        except ValueError:
            pass
        return record
    try:
        data, note = loads_lenient(text)
    except ValueError as err:
        return Record(row, row, error=f"line is not JSON: {err}"[:300])
    record = record_from_mapping(data, row, fields)
    if note is not None:
        record.error = "; ".join(filter(None, [record.error, note]))
    return record
