"""`judgecraft score` as whole processes: does `--workers 2` scale on 2 cores, and what a core scores per second.

The 180-row example dump (real SmolLM2 completions plus hand-written ones) is tiled to `--rows` rows
with fresh ids, then scored by the real CLI in a subprocess (reading JSONL, every component of
stage round3, writing JSONL and the summary), `--repeats` times each with one worker and with
`--workers` workers, interleaved, so both see the same machine. Reported: the median wall time of
each, their ratio (the issue's target: 2 workers at least 1.6x one worker on 2 cores), rows per
CPU-second of the whole process tree, the fixed start-up cost (a one-row dump: imports, the scorer,
the math-verify worker each scoring process starts) and the load average around the measurement,
since the machine may be shared. Writes benchmarks/results/score_cli.json.

CPU seconds are those of every process of the run, the math-verify worker included: this script is
the child subreaper of the runs, so a helper process that its guardian leaves behind when killed is
reaped here and counted (and a run that leaves a process alive fails the benchmark).

    python benchmarks/bench_score_cli.py [--rows 30000] [--repeats 3] [--workers 2] [--out PATH]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "score_cli.json"
CLI = [sys.executable, "-m", "judgecraft"]
STAGE = "round3"  # every component of the competition


def tile_dump(rows: int, path: Path) -> None:
    lines = [json.loads(x) for x in (ROOT / "examples" / "dump.jsonl").read_text(encoding="utf-8").splitlines()]
    with path.open("w", encoding="utf-8") as f:
        for i in range(rows):
            row = dict(lines[i % len(lines)])
            row["id"] = f"{row.get('id', 'row')}-{i}"
            f.write(json.dumps(row) + "\n")


def become_subreaper() -> None:
    """Orphans of the runs (a killed guardian's worker) are reparented to this process, so their CPU counts."""
    PR_SET_CHILD_SUBREAPER = 36
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def reap_leftovers(limit: float = 30.0) -> None:
    """Wait for every process the run left behind; they must all end on their own (they die with the run)."""
    deadline = time.monotonic() + limit
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"a process of the run is still alive {limit:g} s after it ended")
            time.sleep(0.01)


def timed_score(dump: Path, out: Path, workers: int) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    cmd = [*CLI, "score", str(dump), "--out", str(out), "--workers", str(workers), "--restart", "--stage", STAGE,
           "--no-progress"]  # fmt: skip
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - start
    reap_leftovers()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rows = sum(1 for _ in out.open(encoding="utf-8"))
    return {"workers": workers, "rows": rows, "wall_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3)}


def medians(runs: list[dict]) -> dict:
    wall = statistics.median(r["wall_seconds"] for r in runs)
    cpu = statistics.median(r["cpu_seconds"] for r in runs)
    rows = runs[0]["rows"]
    return {
        "workers": runs[0]["workers"],
        "rows": rows,
        "median_wall_seconds": round(wall, 3),
        "median_cpu_seconds": round(cpu, 3),
        "rows_per_second": round(rows / wall, 1),
        "rows_per_cpu_second": round(rows / cpu, 1),
        "walls": [r["wall_seconds"] for r in runs],
    }


def measure(dump: Path, tmp: Path, workers: list[int], repeats: int) -> dict[int, dict]:
    runs: dict[int, list[dict]] = {w: [] for w in workers}
    for repeat in range(repeats):
        for w in workers:
            print(f"bench_score_cli: {dump.name}, {w} worker(s), run {repeat + 1}/{repeats} ...", flush=True)
            runs[w].append(timed_score(dump, tmp / f"scores-{w}.jsonl", w))
    return {w: medians(r) for w, r in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes (quick trials elsewhere)")
    args = parser.parse_args()
    become_subreaper()
    cores = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        dump, tiny = tmp / "dump.jsonl", tmp / "one.jsonl"
        tile_dump(args.rows, dump)
        tile_dump(1, tiny)
        startup = measure(tiny, tmp, [1, args.workers], args.repeats)
        full = measure(dump, tmp, [1, args.workers], args.repeats)
    one, many = full[1], full[args.workers]
    speedup = one["median_wall_seconds"] / many["median_wall_seconds"]
    report = {
        "dump": f"examples/dump.jsonl tiled to {args.rows} rows, stage {STAGE}",
        "cpu_cores": cores,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "one_worker": one,
        "workers": many,
        "speedup": round(speedup, 3),
        # CPU the whole process tree spent with N workers per CPU second with one: how much the
        # parallel run adds (start-up of each scoring process, the main process), whatever the load.
        "cpu_seconds_ratio": round(many["median_cpu_seconds"] / one["median_cpu_seconds"], 3),
        "target_speedup": 1.6,
        "startup_seconds": {str(w): s["median_wall_seconds"] for w, s in startup.items()},
        "completions_per_second_per_core": one["rows_per_cpu_second"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"bench_score_cli: {args.workers} workers {speedup:.2f}x one worker ({many['median_wall_seconds']:.1f} s vs "
        f"{one['median_wall_seconds']:.1f} s for {args.rows} rows, medians of {args.repeats}; target 1.6x); "
        f"CPU ratio {report['cpu_seconds_ratio']:.2f}; {one['rows_per_cpu_second']:.0f} rows per CPU-second; "
        f"load {load_before[0]:.1f} -> {args.out}"
    )


if __name__ == "__main__":
    main()
