"""Offline scoring of generation dumps: rows in, one scored row out per input row, resumable and parallel.

`score_dump` is the `judgecraft score` command as a function; `BatchScorer` scores columnar batches
(Ray Data, `datasets.map`). The pieces: `record` (one row to one output row), `summary` (the
mergeable end-of-run totals), `pool` (chunks scored in order, in scoring processes), `run` (the
locked, checkpointed, resumable run) and `batch`.
"""

from judgecraft.offline.batch import BatchScorer
from judgecraft.offline.pool import ChunkResult, ChunkScorer, scored_chunks
from judgecraft.offline.record import json_line, score_record
from judgecraft.offline.run import ResumeMismatch, RunOptions, RunResult, input_fingerprint, score_dump
from judgecraft.offline.summary import Summary
from judgecraft.outputs import OutputBusy
from judgecraft.settings import ScoreConfig, ScoringSettings

__all__ = [
    "BatchScorer",
    "ChunkResult",
    "ChunkScorer",
    "OutputBusy",
    "ResumeMismatch",
    "RunOptions",
    "RunResult",
    "ScoreConfig",
    "ScoringSettings",
    "Summary",
    "input_fingerprint",
    "json_line",
    "score_dump",
    "score_record",
    "scored_chunks",
]
