"""Chunks scored in order, in this process or in a pool of scoring processes that die with it.

What scales: the main process only reads raw bytes (JSONL lines, or Arrow batches) and writes the
bytes (or Arrow tables) that come back; decoding, scoring, serialising and the partial summary all
happen in the scoring processes, and what crosses between them is a few large objects per chunk
(a list of line bytes one way, one bytes blob or Arrow table back), never per-row Python objects.
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

from judgecraft.io import RawChunk, decode_chunk
from judgecraft.offline.record import arrow_table, json_line, score_record
from judgecraft.offline.summary import Summary
from judgecraft.rows import Fields, Record
from judgecraft.settings import ScoringSettings

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


def _init_worker(parent: int, *args: Any) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="exit-with-parent").start()
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
    context = multiprocessing.get_context("spawn")  # no fork beside threads; workers import only judgecraft
    initargs = (os.getpid(), settings, fields, out_format, max_line_bytes)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=initargs)
    pending: deque[Future[ChunkResult]] = deque()
    try:
        for chunk in chunks:
            pending.append(pool.submit(_score_chunk, chunk))
            if len(pending) >= WINDOW_PER_WORKER * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool as err:
        raise RuntimeError(f"a scoring process died ({err}); run the same command again to resume") from None
    finally:
        pool.shutdown(wait=not pending, cancel_futures=True)
