"""A whole `score` run: one writer (a lock), resume from the checkpoint, score in order, checkpoint, finish.

Resumption (see `judgecraft.outputs`): the output is fsync'ed and a checkpoint saved every few
seconds or rows; a rerun of the same command cuts the output back to the checkpoint and continues
from the input row after it. Scores are pure functions of the row, so the resumed output equals an
uninterrupted one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judgecraft.io import detect_format, iter_raw_chunks
from judgecraft.offline.pool import scored_chunks
from judgecraft.offline.summary import Summary
from judgecraft.outputs import Checkpoint, JsonlOutput, OutputLock, ParquetOutput
from judgecraft.rows import MAX_LINE_BYTES, Fields
from judgecraft.settings import ScoringSettings


class ResumeMismatch(RuntimeError):
    """A checkpoint exists, but for other settings or another input: resuming would mix two runs."""


@dataclass
class RunResult:
    summary: Summary
    output: Path
    resumed_rows: int  # rows already done by an earlier, interrupted run
    rows_this_run: int
    seconds: float
    columns: list[str]

    def report(self) -> dict[str, Any]:
        rate = self.rows_this_run / self.seconds if self.seconds > 0 else None
        return {
            **self.summary.report(),
            "output": str(self.output),
            "resumed_rows": self.resumed_rows,
            "rows_this_run": self.rows_this_run,
            "seconds": round(self.seconds, 3),
            "rows_per_second": rate,
        }


@dataclass
class RunOptions:
    """How a run goes (none of this changes a score, so a resumed run may change it)."""

    workers: int = 1
    shard: tuple[int, int] = (0, 1)
    chunk_size: int = 256
    checkpoint_seconds: float = 5.0
    checkpoint_rows: int = 50_000
    restart: bool = False
    max_line_bytes: int = MAX_LINE_BYTES
    on_progress: Callable[[int, int], None] | None = None  # (input position, rows written)
    on_resume: Callable[[Checkpoint], None] | None = None
    fields: Fields = field(default_factory=Fields)


def input_fingerprint(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def score_dump(
    input_path: str | Path,
    output_path: str | Path,
    settings: ScoringSettings | None = None,
    *,
    fields: Fields | None = None,
    **options: Any,
) -> RunResult:
    """Score every row of a dump (or one shard of it) into `output_path`, resuming an interrupted run.

    `options` are those of `RunOptions` (workers, shard, chunk_size, checkpoint_seconds,
    checkpoint_rows, restart, max_line_bytes, on_progress, on_resume). Raises ResumeMismatch when a
    checkpoint from other settings is in the way, and `OutputBusy` when another run holds the output.
    """
    settings = settings or ScoringSettings()
    opts = RunOptions(**options, fields=fields or Fields())
    input_path, output_path = Path(input_path), Path(output_path)
    detect_format(input_path)
    out_format = detect_format(output_path)
    if input_path.resolve() == output_path.resolve():
        raise ValueError("the output would overwrite the input")
    index, count = opts.shard
    if not (count >= 1 and 0 <= index < count):
        raise ValueError(f"shard {index}/{count}: need 0 <= i < n")
    columns = list(settings.build().components)
    fingerprint = {
        "input": input_fingerprint(input_path),
        "config": settings.fingerprint(),
        "fields": json.loads(json.dumps(opts.fields.__dict__)),
        "shard": [index, count],
        "output_format": out_format,
    }
    with OutputLock(output_path):  # before anything of the output is read or touched
        checkpoint = _checkpoint_to_resume(output_path, fingerprint, opts)
        return _Run(input_path, output_path, settings, opts, columns, checkpoint, fingerprint).run()


def _checkpoint_to_resume(output: Path, fingerprint: dict[str, Any], opts: RunOptions) -> Checkpoint | None:
    checkpoint = None if opts.restart else Checkpoint.load(output)
    if checkpoint is not None and checkpoint.fingerprint != fingerprint:
        changed = sorted(k for k in fingerprint if checkpoint.fingerprint.get(k) != fingerprint[k])
        raise ResumeMismatch(
            f"{Checkpoint.path_for(output)} belongs to a run with other {', '.join(changed)}; "
            "rerun with --restart to start over (or pick another --out)"
        )
    if checkpoint is not None and opts.on_resume is not None:
        opts.on_resume(checkpoint)
    return checkpoint


class _Run:
    """One run's writer, checkpoint state and summary, from the resume point to the merged output."""

    def __init__(self, input_path: Path, output_path: Path, settings: ScoringSettings, opts: RunOptions,
                 columns: list[str], checkpoint: Checkpoint | None, fingerprint: dict[str, Any]):  # fmt: skip
        self.input_path, self.output_path, self.settings, self.opts = input_path, output_path, settings, opts
        self.columns = columns
        self.fresh = checkpoint is None
        self.state = checkpoint or Checkpoint(fingerprint)
        self.resumed_rows = self.state.written
        self.out_format = detect_format(output_path)
        self.writer: JsonlOutput | ParquetOutput = (
            JsonlOutput(output_path, resume=checkpoint)
            if self.out_format == "jsonl"
            else ParquetOutput(output_path, ["total", *columns], resume=checkpoint)
        )
        self.summary = Summary.from_state(self.state.summary)

    def save(self) -> None:
        self.writer.sync(self.state)  # the output first, durable; only then the checkpoint that points past it
        self.state.summary = self.summary.state()
        self.state.save(self.output_path)

    def run(self) -> RunResult:
        started = time.monotonic()
        try:
            if self.fresh:
                self.save()  # from the first moment, a crash leaves a checkpoint at row 0
            if not self.state.complete:
                self.score_all()
                self.state.complete = True
                self.save()
            self.writer.finish()
        finally:
            self.writer.close()
        Checkpoint.remove(self.output_path)
        written_now = self.state.written - self.resumed_rows
        seconds = time.monotonic() - started
        return RunResult(self.summary, self.output_path, self.resumed_rows, written_now, seconds, self.columns)

    def score_all(self) -> None:
        """Scored chunks in order into the writer, with a checkpoint every so many seconds or rows."""
        opts, state = self.opts, self.state
        chunks = iter_raw_chunks(self.input_path, opts.fields, start_row=state.rows_read,
                                 start_offset=state.input_offset, shard=opts.shard, chunk_size=opts.chunk_size,
                                 max_line_bytes=opts.max_line_bytes)  # fmt: skip
        results = scored_chunks(chunks, self.settings, opts.fields, self.out_format, opts.workers, opts.max_line_bytes)
        last_sync, since_sync = time.monotonic(), 0
        for result in results:
            self.writer.write(result.data)
            self.summary.merge(result.summary)
            state.rows_read, state.input_offset = result.last_row + 1, result.end
            state.written += result.rows
            since_sync += result.rows
            if opts.on_progress is not None:
                opts.on_progress(result.end, state.written)
            if since_sync >= opts.checkpoint_rows or time.monotonic() - last_sync >= opts.checkpoint_seconds:
                self.save()
                last_sync, since_sync = time.monotonic(), 0
