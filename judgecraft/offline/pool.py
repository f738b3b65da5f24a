"""Chunks scored in order, in this process or in a pool of scoring processes that die with it.

What scales: the main process only reads raw bytes (JSONL lines, or Arrow batches) and writes the
bytes (or Arrow tables) that come back; decoding, scoring, serialising and the partial summary all
happen in the scoring processes, and what crosses between them is a few large objects per chunk
(a list of line bytes one way, one bytes blob or Arrow table back), never per-row Python objects.
The scoring processes share one math-verify worker, owned by a broker in the main process
(`judgecraft.worker_broker`) and started as the pool starts when answers are checked: one start-up
(about a CPU-second of sympy imports) beside theirs instead of one each that they would wait for.
Chunks come back in input order through a bounded window, so memory stays constant and the output
is written in order, which is what makes a checkpoint a single number.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from judgecraft import verify_worker
from judgecraft.io import RawChunk, decode_chunk
from judgecraft.offline.record import arrow_table, json_line, score_record
from judgecraft.offline.summary import Summary
from judgecraft.rows import Fields, Record
from judgecraft.settings import ScoringSettings
from judgecraft.worker import share_workers
from judgecraft.worker_broker import WorkerBroker

WINDOW_PER_WORKER = 4  # chunks in flight per scoring process: enough that none waits on a slow neighbour


@dataclass
class ChunkResult:
    data: Any  # JSONL output: the lines as one bytes object; Parquet output: an Arrow table
    rows: int
    summary: Summary
    last_row: int
    end: int  # input position just past the chunk


class ChunkScorer:
    """Decodes, scores and serialises a chunk of raw rows (one per scoring process)."""

    def __init__(self, settings: ScoringSettings, fields: Fields, out_format: str, max_line_bytes: int):
        self.scorer = settings.build()
        self.fields = fields
        self.as_json = out_format == "jsonl"
        self.columns = ["total", *self.scorer.components]
        self.max_line_bytes = max_line_bytes

    def __call__(self, chunk: RawChunk) -> ChunkResult:
        summary = Summary()
        rows: list[dict[str, Any]] = []
        for record in decode_chunk(chunk, self.fields, self.max_line_bytes):
            row, bd = self._score(record)
            summary.add(row, bd, self.scorer)
            rows.append(row)
        data = b"".join(json_line(r) for r in rows) if self.as_json else arrow_table(rows, self.columns)
        return ChunkResult(data, len(rows), summary, chunk.rows[-1], chunk.end)

    def _score(self, record: Record) -> tuple[dict[str, Any], Any]:
        try:
            return score_record(self.scorer, record)
        except Exception as err:  # e.g. a RecursionError formatting a deeply nested value: the row says so
            bad = Record(record.row, record.row, error=f"row cannot be scored: {type(err).__name__}")
            return score_record(self.scorer, bad)


# ---------------------------------------------------------------- the scoring processes

_worker: ChunkScorer | None = None


def _init_worker(parent: int, broker: str | None, *args: Any) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="exit-with-parent").start()
    share_workers(broker)  # one math-verify worker (and its caches) for all the scoring processes
    _worker = ChunkScorer(*args)


def _exit_with_parent(parent: int) -> None:
    """Exit as soon as the main process is gone, however it died (kill -9 skips every cleanup).

    Waits on a pidfd of the parent (no polling); where pidfds are missing, polls the parent pid.
    """
    try:
        fd = os.pidfd_open(parent)
    except (AttributeError, OSError):
        fd = None
    while os.getppid() == parent:
        if fd is not None:
            with contextlib.suppress(InterruptedError):
                select.select([fd], [], [])
        else:
            time.sleep(0.5)
    os._exit(1)


def _score_chunk(chunk: RawChunk) -> ChunkResult:
    assert _worker is not None
    return _worker(chunk)


def scored_chunks(
    chunks: Iterable[RawChunk],
    settings: ScoringSettings,
    fields: Fields,
    out_format: str,
    workers: int,
    max_line_bytes: int,
) -> Iterator[ChunkResult]:
    """Score chunks in order: inline with one worker, else in a spawn pool with a bounded in-flight window."""
    if workers <= 1:
        scorer = ChunkScorer(settings, fields, out_format, max_line_bytes)
        for chunk in chunks:
            yield scorer(chunk)
        return
    with _Pool(workers, (settings, fields, out_format, max_line_bytes)) as pool:
        pending: deque[tuple[RawChunk, Future[ChunkResult]]] = deque()
        for chunk in chunks:
            pending.append((chunk, pool.submit(chunk)))
            if len(pending) >= WINDOW_PER_WORKER * workers:
                yield pool.result(pending)
        while pending:
            yield pool.result(pending)


class _Pool:
    """A spawn pool of scoring processes that survives one of them dying (the OOM killer, a crash).

    When a scoring process dies, the chunk it may have been scoring is scored again one row per
    task in a fresh pool, so the row that killed it (if one did) becomes an error row and every
    other row is scored: no row stops a run.
    """

    def __init__(self, workers: int, args: tuple[Any, ...]):
        self.workers, self.args = workers, args
        self.columns = ["total", *args[0].build().components]
        self.as_json = args[2] == "jsonl"
        self.broker = _broker()  # the helper processes (math-verify) the scoring processes share
        if self.broker is not None and "correctness" in self.columns:  # math-verify starts beside them
            self.broker.prestart(verify_worker.__name__)
        try:
            self.executor = self._start()
        except BaseException:
            self._close_broker()
            raise

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")  # no fork beside threads; workers import only judgecraft
        broker = self.broker.address if self.broker is not None else None
        return ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                   initargs=(os.getpid(), broker, *self.args))  # fmt: skip

    def submit(self, chunk: RawChunk) -> Future[ChunkResult]:
        try:
            return self.executor.submit(_score_chunk, chunk)
        except BrokenProcessPool as err:  # a scoring process died since the last result: `result` recovers
            failed: Future[ChunkResult] = Future()
            failed.set_exception(err)
            return failed

    def result(self, pending: deque[tuple[RawChunk, Future[ChunkResult]]]) -> ChunkResult:
        chunk, future = pending.popleft()
        try:
            return future.result()
        except BrokenProcessPool:
            self._restart()
            result = self._score_row_by_row(chunk)
            for i, (waiting, _) in enumerate(pending):  # everything in flight was lost with the pool
                pending[i] = (waiting, self.submit(waiting))
            return result

    def _restart(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = self._start()

    def _score_row_by_row(self, chunk: RawChunk) -> ChunkResult:
        parts = []
        for i, row in enumerate(chunk.rows):
            single = RawChunk([row], lines=chunk.lines[i : i + 1] if chunk.lines is not None else None,
                              batch=chunk.batch.slice(i, 1) if chunk.batch is not None else None)  # fmt: skip
            try:
                parts.append(self.submit(single).result())
            except BrokenProcessPool:
                self._restart()
                parts.append(self._died_on(row))
        return self._joined(parts, chunk)

    def _died_on(self, row: int) -> ChunkResult:
        out = {"id": row, "row": row, "total": None, **dict.fromkeys(self.columns[1:]),
               "error": "a scoring process died on this row (killed, out of memory or crashed)"}  # fmt: skip
        summary = Summary()
        summary.add(out, None, None)  # type: ignore[arg-type]  (an unscored row needs no scorer)
        data = json_line(out) if self.as_json else arrow_table([out], self.columns)
        return ChunkResult(data, 1, summary, row, 0)

    def _joined(self, parts: list[ChunkResult], chunk: RawChunk) -> ChunkResult:
        import pyarrow as pa

        summary = Summary()
        for part in parts:
            summary.merge(part.summary)
        data = b"".join(p.data for p in parts) if self.as_json else pa.concat_tables([p.data for p in parts])
        return ChunkResult(data, len(parts), summary, chunk.rows[-1], chunk.end)

    def __enter__(self) -> _Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.executor.shutdown(wait=exc[0] is None, cancel_futures=True)
        finally:
            self._close_broker()

    def _close_broker(self) -> None:
        if self.broker is not None:
            self.broker.close()


def _broker() -> WorkerBroker | None:
    """A broker, or None where no local socket can be made (then each scoring process starts its own worker)."""
    try:
        return WorkerBroker()
    except OSError:  # e.g. a TMPDIR path too long for a Unix socket
        return None
