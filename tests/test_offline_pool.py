"""`judgecraft score --workers N`: the same bytes as one scoring process, and a pool that loses one recovers.

Real spawned scoring processes and the real math-verify worker (shared through the pool's broker).
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from pathlib import Path

from judgecraft.io import iter_raw_chunks
from judgecraft.offline import ChunkScorer, ScoringSettings, score_dump
from judgecraft.offline.pool import _Pool
from judgecraft.rows import MAX_LINE_BYTES, Fields

ROOT = Path(__file__).resolve().parent.parent
BAD_LINES = [b"", b'{"id": "bad-json", "completion": "unterminated', b"[" * 1000, b'{"id": "x", "completion": null}']


def _dump(path: Path) -> None:
    """The example dump (math-verify is needed for some of its answers) with bad lines between its rows."""
    lines = (ROOT / "examples" / "dump.jsonl").read_bytes().splitlines()
    for i, bad in enumerate(BAD_LINES):
        lines.insert(17 + 41 * i, bad)
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_two_scoring_processes_write_the_same_bytes_as_one(tmp_path):
    dump = tmp_path / "d.jsonl"
    _dump(dump)
    settings = ScoringSettings("pkv", "round3")
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"scores-{workers}.jsonl"
        result = score_dump(dump, out, settings, workers=workers, chunk_size=16)
        assert result.summary.rows == len(dump.read_bytes().splitlines())
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_a_pool_that_broke_between_results_scores_the_next_chunk(tmp_path):
    """A scoring process killed while the main process reads: the next submit must not raise, the chunk is scored."""
    dump = tmp_path / "d.jsonl"
    _dump(dump)
    args = (ScoringSettings("pkv", "round3"), Fields(), "jsonl", MAX_LINE_BYTES)
    chunk = next(iter_raw_chunks(dump, chunk_size=8))
    expected = ChunkScorer(*args)(chunk).data
    with _Pool(2, args) as pool:
        assert pool.submit(chunk).result().data == expected  # the scoring processes are up
        os.kill(next(iter(pool.executor._processes)), signal.SIGKILL)
        deadline = time.monotonic() + 120  # generous: a bound for the state, never a measurement
        while not pool.executor._broken:  # the executor has noticed
            assert time.monotonic() < deadline, "the pool never noticed its dead process"
            time.sleep(0.05)
        pending = deque([(chunk, pool.submit(chunk))])
        assert pool.result(pending).data == expected
