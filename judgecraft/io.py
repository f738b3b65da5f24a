"""Generation dumps in and scores out: streaming JSONL / Parquet readers and crash-safe, resumable writers.

Readers iterate (a line or a Parquet record batch at a time), so a 10 GB dump is read in constant
memory. Every input row becomes exactly one `Record`: a line that is empty, not UTF-8, not JSON,
not an object, or lacks a usable completion is a Record with an `error`, never a dropped row.

Writers make a run resumable after a crash or `kill -9`. Rows are written in input order; every
so often the output is fsync'ed and then a checkpoint (how many input rows are accounted for,
where the input resumes, how much output is durable) is replaced atomically. On restart the output
is cut back to the checkpoint and reading resumes right after it, so each row lands exactly once.
JSONL output is one file truncated to the checkpoint; Parquet cannot be appended to after a crash,
so it is written as part files listed by the checkpoint and merged into one file at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_ANSWER_FIELDS = ("answer", "solution")
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")


# ---------------------------------------------------------------- fields and records


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
    answer: Any = None
    prefill: str | None = None
    error: str | None = None


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


def record_from_mapping(data: Any, row: int, fields: Fields) -> Record:
    """Turn one decoded row into a Record; anything that prevents scoring becomes its `error`."""
    if not isinstance(data, dict):
        return Record(row, row, error=f"row is a JSON {type(data).__name__}, not an object")
    rid = data.get(fields.id)
    rid = row if rid is None else rid
    answer = next((data[a] for a in fields.answer if data.get(a) is not None), None)
    prompt = data.get(fields.prompt)
    prefill = data.get(fields.prefill)
    record = Record(row, rid, prompt=usable_prompt(prompt), answer=answer)
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


def record_from_line(raw: bytes, row: int, fields: Fields) -> Record:
    """Decode one JSONL line (bytes, newline included or not) into a Record."""
    stripped = raw.strip()
    if not stripped:
        return Record(row, row, error="empty line")
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError as err:
        record = Record(row, row, error=f"line is not valid UTF-8 ({err.reason} at byte {err.start})")
        try:  # keep the row's id when the rest of the line is readable, so the user can find it
            salvaged = json.loads(stripped.decode("utf-8", errors="replace"))
            if isinstance(salvaged, dict) and salvaged.get(fields.id) is not None:
                record.id = salvaged[fields.id]
        except ValueError:
            pass
        return record
    try:
        data = json.loads(text)
    except ValueError as err:
        return Record(row, row, error=f"line is not JSON: {err}"[:300])
    return record_from_mapping(data, row, fields)


# ---------------------------------------------------------------- reading


def detect_format(path: str | Path) -> str:
    """The format of a dump, "jsonl" or "parquet", from its file name."""
    name = str(path).lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    raise ValueError(f"{path}: unknown format; expected a name ending in {JSONL_SUFFIXES + PARQUET_SUFFIXES}")


@dataclass(slots=True)
class RawRow:
    """One input row before decoding: a JSONL line (bytes) or a Parquet row (dict), and where it ends."""

    row: int
    payload: bytes | dict[str, Any]
    end: int  # JSONL: byte offset just past the line; Parquet: row + 1


def iter_raw_rows(
    path: str | Path,
    fields: Fields | None = None,
    *,
    start_row: int = 0,
    start_offset: int = 0,
    shard: tuple[int, int] = (0, 1),
    batch_size: int = 1024,
) -> Iterator[RawRow]:
    """Every row of the shard (rows with `row % n == i`), from `start_row` on, undecoded.

    Undecoded rows are what a parallel run ships to its worker processes, so the main process only
    reads. For JSONL, `start_offset` is the byte offset of `start_row` (from a checkpoint).
    """
    if detect_format(path) == "parquet":
        yield from _parquet_raw_rows(path, fields or Fields(), start_row, shard, batch_size)
    else:
        yield from _jsonl_raw_rows(path, start_row, start_offset, shard)


def _jsonl_raw_rows(path: str | Path, start_row: int, start_offset: int, shard: tuple[int, int]) -> Iterator[RawRow]:
    index, count = shard
    with open(path, "rb") as f:
        f.seek(start_offset)
        offset, row = start_offset, start_row
        for line in f:
            offset += len(line)
            if row % count == index:
                yield RawRow(row, line, offset)
            row += 1


def _parquet_raw_rows(
    path: str | Path, fields: Fields, start_row: int, shard: tuple[int, int], batch_size: int
) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    index, count = shard
    pf = pq.ParquetFile(path)
    wanted = [c for c in dict.fromkeys(fields.columns) if c in pf.schema_arrow.names]
    row = 0
    for group in range(pf.num_row_groups):
        rows_in_group = pf.metadata.row_group(group).num_rows
        if row + rows_in_group <= start_row:  # whole row groups before the resume point are never read
            row += rows_in_group
            continue
        for batch in pf.iter_batches(batch_size=batch_size, row_groups=[group], columns=wanted):
            if row + batch.num_rows <= start_row:
                row += batch.num_rows
                continue
            for data in batch.to_pylist():
                if row >= start_row and row % count == index:
                    yield RawRow(row, data, row + 1)
                row += 1


def decode_row(raw: RawRow, fields: Fields) -> Record:
    if isinstance(raw.payload, dict):
        return record_from_mapping(raw.payload, raw.row, fields)
    return record_from_line(raw.payload, raw.row, fields)


def read_records(path: str | Path, fields: Fields | None = None, **options: Any) -> Iterator[Record]:
    """Every row of a JSONL or Parquet dump as a Record, in order, in constant memory."""
    fields = fields or Fields()
    for raw in iter_raw_rows(path, fields, **options):
        yield decode_row(raw, fields)


def input_size(path: str | Path) -> tuple[int, str]:
    """How much input there is and in what unit: bytes for JSONL, rows for Parquet (from the footer)."""
    if detect_format(path) == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows, "rows"
    return os.path.getsize(path), "bytes"


# ---------------------------------------------------------------- durable output


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace a file with new content so that a crash leaves either the old or the new one, whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


@dataclass
class Checkpoint:
    """What a run has durably done. Written only after the output it describes is on disk."""

    fingerprint: dict[str, Any]  # input, construct, stage, ... : a rerun with other settings must not resume
    rows_read: int = 0  # input rows accounted for (the next row to read)
    input_offset: int = 0  # JSONL: byte offset of that row
    output_bytes: int = 0  # JSONL output: durable length
    parts: int = 0  # Parquet output: durable part files
    written: int = 0  # output rows
    summary: dict[str, Any] = field(default_factory=dict)
    complete: bool = False

    @staticmethod
    def path_for(output: Path) -> Path:
        return output.with_name(output.name + ".checkpoint")

    def save(self, output: Path) -> None:
        atomic_write_text(self.path_for(output), json.dumps(asdict(self), sort_keys=True))

    @classmethod
    def load(cls, output: Path) -> Checkpoint | None:
        path = cls.path_for(output)
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def remove(cls, output: Path) -> None:
        cls.path_for(output).unlink(missing_ok=True)
        _fsync_dir(output.parent)


class JsonlOutput:
    """Scored rows as JSONL, appended in order; `sync` makes everything written so far durable."""

    def __init__(self, path: Path, resume: Checkpoint | None = None):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "r+b" if resume and path.exists() else "wb")  # noqa: SIM115
        if resume is not None:
            if self._f.seek(0, os.SEEK_END) < resume.output_bytes:
                raise RuntimeError(f"{path} is shorter than its checkpoint says: rerun with --restart")
            self._f.truncate(resume.output_bytes)  # rows written after the last checkpoint are written again
            self._f.seek(resume.output_bytes)

    def write_lines(self, lines: Sequence[str]) -> None:
        self._f.write("".join(lines).encode("utf-8"))

    def sync(self, checkpoint: Checkpoint) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        checkpoint.output_bytes = self._f.tell()

    def close(self) -> None:
        self._f.close()

    def finish(self) -> None:
        self.close()


class ParquetOutput:
    """Scored rows as Parquet: durable part files while running, merged into one file at the end."""

    def __init__(self, path: Path, columns: Sequence[str], resume: Checkpoint | None = None):
        import pyarrow as pa

        self.path = path
        self.parts_dir = path.with_name(path.name + ".parts")
        self.schema = pa.schema(
            [("id", pa.string()), ("row", pa.int64())] + [(c, pa.float64()) for c in columns] + [("error", pa.string())]
        )
        self._buffer: list[dict[str, Any]] = []
        self.parts = resume.parts if resume else 0
        if resume is None:
            shutil.rmtree(self.parts_dir, ignore_errors=True)
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.parts_dir.iterdir():  # parts written after the last checkpoint, or half-written
            m = _PART_RE.fullmatch(stale.name)
            if m is None or int(m.group(1)) >= self.parts:
                stale.unlink()

    def _part(self, n: int) -> Path:
        return self.parts_dir / f"part-{n:06d}.parquet"

    def write_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        self._buffer.extend(rows)

    def sync(self, checkpoint: Checkpoint) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._buffer:
            table = pa.Table.from_pylist([_parquet_safe(r) for r in self._buffer], schema=self.schema)
            target = self._part(self.parts)
            tmp = target.with_name("." + target.name + ".tmp")
            pq.write_table(table, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, target)
            _fsync_dir(self.parts_dir)
            self.parts += 1
            self._buffer.clear()
        checkpoint.parts = self.parts

    def close(self) -> None:
        self._buffer.clear()

    def finish(self) -> None:
        """Merge the parts into the output file (atomically), then remove them."""
        import pyarrow.parquet as pq

        tmp = self.path.with_name("." + self.path.name + ".tmp")
        with pq.ParquetWriter(tmp, self.schema) as writer:
            for n in range(self.parts):
                writer.write_table(pq.read_table(self._part(n), schema=self.schema))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        shutil.rmtree(self.parts_dir, ignore_errors=True)


_PART_RE = re.compile(r"part-(\d{6})\.parquet")


def safe_text(value: Any) -> str | None:
    """Text Parquet can store: lone surrogates (legal in JSON, not in UTF-8) are escaped."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _parquet_safe(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["id"] = safe_text(row.get("id"))
    out["error"] = safe_text(row.get("error"))
    return out


def read_output(path: str | Path) -> list[dict[str, Any]]:
    """A scored output file as a list of rows (for tests and small files)."""
    if detect_format(path) == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
