"""Scores out: crash-safe, resumable writers and the lock that makes each output single-writer.

Rows are written in input order; every so often the output is fsync'ed and then a checkpoint (how
many input rows are accounted for, where the input resumes, how much output is durable) is replaced
atomically. On restart the output is cut back to the checkpoint and reading resumes right after it,
so each row lands exactly once. JSONL output is one file truncated to the checkpoint; Parquet cannot
be appended to after a crash, so it is written as part files listed by the checkpoint and merged
into one file at the end. `OutputLock` keeps a second run off the output, its checkpoint and parts.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_PART_RE = re.compile(r"part-(\d{6})\.parquet")


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
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
    fsync_dir(path.parent)


# ---------------------------------------------------------------- one writer per output


class OutputBusy(RuntimeError):
    """Another run holds the output's lock: two writers would interleave their rows."""


class OutputLock:
    """An exclusive `flock` on `<output>.lock`, held for a whole run; the file names its holder.

    The lock covers the output, its checkpoint and its Parquet parts. The kernel drops it when the
    holder dies, however it dies, so a stale lock file never blocks a rerun.
    """

    def __init__(self, output: Path):
        self.path = output.with_name(output.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputBusy(f"{self.path.with_suffix('')} is being written by another run "
                                 f"({self.holder()}); wait for it or pick another --out") from None  # fmt: skip
            if self._same_file(fd):  # not a lock file a finishing run unlinked while we opened it
                break
            os.close(fd)
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started})
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode() + b"\n", 0)
        self._fd = fd
        return self

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def holder(self, attempts: int = 20) -> str:
        """Who holds the lock, as its lock file says (the holder writes it right after locking)."""
        for _ in range(attempts):
            try:
                info = json.loads(self.path.read_text(encoding="utf-8"))
                return f"pid {info['pid']} on {info['host']}, started {info['started']}"
            except (OSError, ValueError, KeyError, TypeError):
                time.sleep(0.1)  # locked a moment ago, not written yet
        return "a run that is just starting"

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # before unlocking: a run waiting on this inode then retries on a new file
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


# ---------------------------------------------------------------- checkpoints


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
        fsync_dir(output.parent)


# ---------------------------------------------------------------- writers


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

    def write(self, data: bytes) -> None:
        """Append ready-made JSONL bytes (what a scoring process returns)."""
        self._f.write(data)

    def write_lines(self, lines: list[str]) -> None:
        self._f.write("".join(lines).encode("utf-8"))

    def sync(self, checkpoint: Checkpoint) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        checkpoint.output_bytes = self._f.tell()

    def close(self) -> None:
        self._f.close()

    def finish(self) -> None:
        self.close()


def parquet_schema(columns: list[str]) -> Any:
    """The output table: id (text), row, the score columns (float) and error (text)."""
    import pyarrow as pa

    scores = [(c, pa.float64()) for c in columns]
    return pa.schema([("id", pa.string()), ("row", pa.int64()), *scores, ("error", pa.string())])


class ParquetOutput:
    """Scored rows as Parquet: durable part files while running, merged into one file at the end."""

    def __init__(self, path: Path, columns: list[str], resume: Checkpoint | None = None):
        self.path = path
        self.parts_dir = path.with_name(path.name + ".parts")
        self.schema = parquet_schema(columns)
        self._tables: list[Any] = []
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

    def write(self, table: Any) -> None:
        """Append a ready-made Arrow table of this output's schema (what a scoring process returns)."""
        self._tables.append(table)

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        self._tables.append(pa.Table.from_pylist([parquet_safe(r) for r in rows], schema=self.schema))

    def sync(self, checkpoint: Checkpoint) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._tables:
            target = self._part(self.parts)
            tmp = target.with_name("." + target.name + ".tmp")
            pq.write_table(pa.concat_tables(self._tables), tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, target)
            fsync_dir(self.parts_dir)
            self.parts += 1
            self._tables.clear()
        checkpoint.parts = self.parts

    def close(self) -> None:
        self._tables.clear()

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
        fsync_dir(self.path.parent)
        shutil.rmtree(self.parts_dir, ignore_errors=True)


def safe_text(value: Any) -> str | None:
    """Text Parquet can store: lone surrogates (legal in JSON, not in UTF-8) are escaped; never raises."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str, allow_nan=False)
        except (ValueError, RecursionError):
            text = repr(value)[:200]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def parquet_safe(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["id"] = safe_text(row.get("id"))
    out["error"] = safe_text(row.get("error"))
    return out


def read_output(path: str | Path) -> list[dict[str, Any]]:
    """A scored output file as a list of rows (for tests and small files)."""
    if str(path).lower().endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
