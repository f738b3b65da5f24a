"""Generation dumps in: streaming JSONL / Parquet readers that hand out undecoded chunks of rows.

Readers iterate (a block of lines or a Parquet record batch at a time), so a 10 GB dump is read in
constant memory, and a line over the size bound is read past, never held. Reading does not decode:
a chunk carries raw line bytes (or an Arrow batch), which is all the main process of a parallel
run touches; the scoring processes decode it (`decode_chunk`). Every input row becomes exactly one
`Record`: a row that cannot be read is a Record with an `error` (see `judgecraft.rows`).

The row helpers (`Fields`, `Record`, `completion_text`, ...) live in `judgecraft.rows` and the
writers (`Checkpoint`, `JsonlOutput`, `ParquetOutput`, `OutputLock`) in `judgecraft.outputs`;
both are importable from here too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from judgecraft.outputs import (  # noqa: F401  (re-exported: the public import path)
    Checkpoint,
    JsonlOutput,
    OutputBusy,
    OutputLock,
    ParquetOutput,
    atomic_write_text,
    read_output,
    safe_text,
)
from judgecraft.rows import (  # noqa: F401  (re-exported: the public import path)
    DEFAULT_ANSWER_FIELDS,
    MAX_LINE_BYTES,
    Fields,
    Record,
    answers_from,
    completion_text,
    content_text,
    first_present,
    gold_text,
    record_from_line,
    record_from_mapping,
    usable_prompt,
)

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")


def detect_format(path: str | Path) -> str:
    """The format of a dump, "jsonl" or "parquet", from its file name."""
    name = str(path).lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    raise ValueError(f"{path}: unknown format; expected a name ending in {JSONL_SUFFIXES + PARQUET_SUFFIXES}")


@dataclass(slots=True)
class RawChunk:
    """Undecoded rows: JSONL lines (bytes, or the byte length of a line too long to keep) or an Arrow batch."""

    rows: list[int]  # the input row number of each entry
    lines: list[bytes | int] | None = None
    batch: Any = None  # a pyarrow RecordBatch of the wanted columns (Parquet input)
    end: int = 0  # input position just past the chunk: a JSONL byte offset, or a Parquet row number

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(slots=True)
class RawRow:
    """One undecoded row and where it ends (see `iter_raw_rows`)."""

    row: int
    payload: bytes | int | dict[str, Any]
    end: int


def iter_raw_chunks(
    path: str | Path,
    fields: Fields | None = None,
    *,
    start_row: int = 0,
    start_offset: int = 0,
    shard: tuple[int, int] = (0, 1),
    chunk_size: int = 256,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[RawChunk]:
    """The shard's rows (`row % n == i`) from `start_row` on, undecoded, `chunk_size` at a time.

    For JSONL, `start_offset` is the byte offset of `start_row` (from a checkpoint).
    """
    if detect_format(path) == "parquet":
        yield from _parquet_chunks(path, fields or Fields(), start_row, shard, chunk_size)
    else:
        yield from _jsonl_chunks(path, start_row, start_offset, shard, chunk_size, max_line_bytes)


def _read_line(f: BinaryIO, limit: int) -> bytes | int:
    """The next line, or its length in bytes when it is longer than `limit` (read past, not kept)."""
    line = f.readline(limit + 1)
    if len(line) <= limit or line.endswith(b"\n"):
        return line
    size = len(line)
    while line and not line.endswith(b"\n"):
        line = f.readline(1 << 20)
        size += len(line)
    return size


def _jsonl_chunks(
    path: str | Path, start_row: int, start_offset: int, shard: tuple[int, int], size: int, limit: int
) -> Iterator[RawChunk]:
    index, count = shard
    rows: list[int] = []
    lines: list[bytes | int] = []
    with open(path, "rb") as f:
        if start_offset:  # (a named pipe cannot seek, and is only ever read from the start)
            f.seek(start_offset)
        offset, row = start_offset, start_row
        while (line := _read_line(f, limit)) != b"":
            offset += line if isinstance(line, int) else len(line)
            if row % count == index:
                rows.append(row)
                lines.append(line)
                if len(rows) >= size:
                    yield RawChunk(rows, lines, end=offset)
                    rows, lines = [], []
            row += 1
    if rows:
        yield RawChunk(rows, lines, end=offset)


def _parquet_chunks(
    path: str | Path, fields: Fields, start_row: int, shard: tuple[int, int], size: int
) -> Iterator[RawChunk]:
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
        for batch in pf.iter_batches(batch_size=size, row_groups=[group], columns=wanted):
            first, row = row, row + batch.num_rows
            picked = [i for i in range(batch.num_rows) if first + i >= start_row and (first + i) % count == index]
            if picked:
                taken = batch if len(picked) == batch.num_rows else batch.take(picked)
                yield RawChunk([first + i for i in picked], batch=taken, end=first + picked[-1] + 1)


def decode_chunk(chunk: RawChunk, fields: Fields, max_line_bytes: int = MAX_LINE_BYTES) -> list[Record]:
    """A chunk's rows as Records (in a scoring process), one per row whatever is wrong with it."""
    if chunk.lines is not None:
        return [
            record_from_line(raw, row, fields, max_line_bytes) for row, raw in zip(chunk.rows, chunk.lines, strict=True)
        ]
    try:
        data = chunk.batch.to_pylist()
    except Exception as err:  # a column Arrow cannot turn into Python values: every row says so
        return [Record(row, row, error=f"row cannot be read: {type(err).__name__}: {err}"[:300]) for row in chunk.rows]
    return [record_from_mapping(d, row, fields) for row, d in zip(chunk.rows, data, strict=True)]


def iter_raw_rows(path: str | Path, fields: Fields | None = None, **options: Any) -> Iterator[RawRow]:
    """The rows of `iter_raw_chunks` one by one (JSONL lines as bytes, Parquet rows as dicts), each with its end."""
    options["chunk_size"] = 1
    for chunk in iter_raw_chunks(path, fields, **options):
        payload = chunk.lines[0] if chunk.lines is not None else chunk.batch.to_pylist()[0]
        yield RawRow(chunk.rows[0], payload, chunk.end)


def decode_row(raw: RawRow, fields: Fields, max_line_bytes: int = MAX_LINE_BYTES) -> Record:
    """One row of `iter_raw_rows` as a Record, whatever is wrong with it (for readers that go row by row)."""
    if isinstance(raw.payload, dict):
        return record_from_mapping(raw.payload, raw.row, fields)
    return record_from_line(raw.payload, raw.row, fields, max_line_bytes)


def read_records(path: str | Path, fields: Fields | None = None, **options: Any) -> Iterator[Record]:
    """Every row of a JSONL or Parquet dump as a Record, in order, in constant memory."""
    fields = fields or Fields()
    if "batch_size" in options:  # the earlier name of chunk_size
        options["chunk_size"] = options.pop("batch_size")
    for chunk in iter_raw_chunks(path, fields, **options):
        yield from decode_chunk(chunk, fields, options.get("max_line_bytes", MAX_LINE_BYTES))


def input_size(path: str | Path) -> tuple[int, str]:
    """How much input there is and in what unit: bytes for JSONL, rows for Parquet (from the footer)."""
    if detect_format(path) == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows, "rows"
    return os.path.getsize(path), "bytes"
