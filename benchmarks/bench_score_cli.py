"""`judgecraft score` throughput on the example dump: completions per second per core, end to end.

The 180-row example dump (real SmolLM2 completions plus hand-written ones) is tiled to `--rows` rows
with fresh ids, then scored by the real CLI in a subprocess (reading JSONL, the default stage's
components, writing JSONL and the summary), once with one worker and once with one worker per core.
Per core = rows / CPU seconds of the whole process tree (user + system), so start-up, parsing and
writing all count. Writes benchmarks/results/score_cli.json; the issue's target is 1,000 per core.

    python benchmarks/bench_score_cli.py [--rows 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "score_cli.json"
CLI = [sys.executable, "-m", "judgecraft"]


def tile_dump(rows: int, path: Path) -> None:
    lines = [json.loads(x) for x in (ROOT / "examples" / "dump.jsonl").read_text(encoding="utf-8").splitlines()]
    with path.open("w", encoding="utf-8") as f:
        for i in range(rows):
            row = dict(lines[i % len(lines)])
            row["id"] = f"{row.get('id', 'row')}-{i}"
            f.write(json.dumps(row) + "\n")


def timed_score(dump: Path, out: Path, workers: int, stage: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    cmd = [*CLI, "score", str(dump), "--out", str(out), "--workers", str(workers), "--restart", "--stage", stage]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rows = sum(1 for _ in out.open(encoding="utf-8"))
    return {
        "workers": workers,
        "stage": stage,
        "rows_written": rows,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "rows_per_second": round(rows / wall, 1),
        "rows_per_cpu_second": round(rows / cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "dump.jsonl"
        tile_dump(args.rows, dump)
        runs = []
        # round1 is the default stage; round3 adds reflection, originality, winner and length (every component).
        for stage, workers in [("round1", 1), ("round3", 1), ("round3", cores)]:
            print(f"bench_score_cli: {args.rows} rows, stage {stage}, {workers} worker(s) ...", flush=True)
            runs.append(timed_score(dump, Path(tmp) / f"scores-{stage}-{workers}.jsonl", workers, stage))
    single = runs[1]
    report = {
        "dump": f"examples/dump.jsonl tiled to {args.rows} rows",
        "cpu_cores": cores,
        "runs": runs,
        "completions_per_second_per_core": {r["stage"]: r["rows_per_cpu_second"] for r in runs if r["workers"] == 1},
        "target_per_core": 1000,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"bench_score_cli: {runs[0]['rows_per_cpu_second']:.0f} (round1) and {single['rows_per_cpu_second']:.0f} "
        f"(round3, every component) completions per CPU-second with one worker "
        f"({single['rows_per_second']:.0f}/s wall); {runs[-1]['rows_per_second']:.0f}/s wall with "
        f"{runs[-1]['workers']} workers (target 1000 per core) -> {RESULTS}"
    )


if __name__ == "__main__":
    main()
