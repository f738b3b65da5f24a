"""Growth: how the time of `Scorer.score` grows with the size of hostile completions.

For every family in benchmarks/hostile.py (the quadratics measured in issue 12 and every family
`judgecraft.strategies.adversarial` draws) a completion of 100 KB, 1 MB and 10 MB is scored with
the full breakdown (pkv round3, or the think construct's default stage) and a gold answer. Reported:
CPU seconds of the scoring process (median of repeats), wall seconds, the ratio per 10x size and
the peak of Python allocations (tracemalloc, measured in a separate call so it does not slow the
timed ones). Targets: at most 12x time per 10x size, 10 MB under 10 s on one core.

A ratio of two times is only as steady as the times: a family that takes milliseconds, timed three
times, moved from 6.6x to 13.9x between two runs of the same code. So each size is scored once
untimed first (imports, caches, the allocator's first large blocks), the three sizes are timed in
interleaved rounds (a burst of load falls on all of them alike), a fast case is repeated until it
has used about `MIN_CPU_S` of CPU (at most `MAX_REPEATS` times), and every timed call starts from a
fresh garbage collection (a collection left pending by the previous call does not land on the
next). What a call itself allocates, and any collection that triggers, is still timed.

The ratio per 10x is paired: in each round the larger size's CPU time is divided by the smaller
size's, timed just before it, and the median of these per-round ratios is reported, so a slow spell
of the machine falls on both sides of a ratio. The ratio of the least times (reported beside it) is
biased upwards: the smaller size is repeated more often, so its least time had more chances to land
in a quiet moment. The ratio of the medians is reported too.

Writes benchmarks/results/growth.json. Run: `nice -n 10 python benchmarks/bench_growth.py`.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import platform
import random
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile import FAMILIES

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "growth.json"
SIZES = (100_000, 1_000_000, 10_000_000)
REPEATS = {100_000: 9, 1_000_000: 7, 10_000_000: 5}  # at least; fast cases more (MIN_CPU_S)
MIN_CPU_S, MAX_REPEATS = 2.0, 31
TARGET_RATIO, TARGET_10MB_S = 12.0, 10.0
console = Console()


def measure(scorer, case) -> tuple[float, float]:
    """CPU and wall seconds of one scoring of `case`, from a fresh garbage collection."""
    completion, answer, prompt, _ = case
    gc.collect()
    c0, w0 = time.process_time(), time.perf_counter()
    scorer.score(completion, answer=answer, prompt=prompt)
    return time.process_time() - c0, time.perf_counter() - w0


def measure_sizes(scorer_for, cases: dict[int, tuple]) -> dict[str, dict]:
    """Time every size of one family in interleaved rounds; then measure its allocation peak."""
    warm = {size: measure(scorer_for(case), case)[0] for size, case in cases.items()}  # untimed warm-up
    wanted = {
        size: min(MAX_REPEATS, max(REPEATS[size], math.ceil(MIN_CPU_S / max(t, 1e-4)))) for size, t in warm.items()
    }
    timed: dict[int, list[tuple[float, float]]] = {size: [] for size in cases}
    for round_ in range(max(wanted.values())):
        for size, case in cases.items():
            if round_ < wanted[size]:
                timed[size].append(measure(scorer_for(case), case))
    out: dict[str, dict] = {}
    for size, case in cases.items():
        completion, answer, prompt, _ = case
        scorer = scorer_for(case)
        cpu, wall = [c for c, _ in timed[size]], [w for _, w in timed[size]]
        tracemalloc.start()
        bd = scorer.score(completion, answer=answer, prompt=prompt)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out[str(size)] = {
            "chars": len(completion) + len(prompt or ""),
            "cpu_s": round(statistics.median(cpu), 4),
            "cpu_min_s": round(min(cpu), 4),
            "repeats": len(cpu),
            "wall_s": round(statistics.median(wall), 4),
            "peak_mb": round(peak / 2**20, 1),
            "errors": bd.errors[:2],
            "cut": bd.cut,
        }
    out["paired_ratios_per_10x"] = [
        [ratio(c_small, c_large) for (c_small, _), (c_large, _) in zip(timed[small], timed[large], strict=False)]
        for small, large in itertools.pairwise(cases)
    ]
    return out


def ratio(small: float, large: float) -> float:
    return round(large / max(small, 1e-3), 2)  # below a millisecond the clock is the noise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), help="families to run (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from judgecraft import Scorer

    scorers = {"pkv": Scorer("pkv", stage="round3"), "think": Scorer("think")}
    for s in scorers.values():
        s.score("<think>warm-up</think> 24", answer="24")
    rows = {}
    with Progress(console=console) as progress:
        task = progress.add_task("growth", total=len(args.families) * len(SIZES))
        for name in args.families:
            progress.update(task, description=name)
            cases = {size: FAMILIES[name](size, random.Random(size)) for size in SIZES}
            row: dict = measure_sizes(lambda case: scorers[case[3]], cases)
            progress.advance(task, len(SIZES))
            row["ratio_per_10x"] = [round(statistics.median(pairs), 2) for pairs in row["paired_ratios_per_10x"]]
            least = [row[str(s)]["cpu_min_s"] for s in SIZES]
            row["least_ratio_per_10x"] = [ratio(least[0], least[1]), ratio(least[1], least[2])]
            median = [row[str(s)]["cpu_s"] for s in SIZES]
            row["median_ratio_per_10x"] = [ratio(median[0], median[1]), ratio(median[1], median[2])]
            row["pass"] = max(row["ratio_per_10x"]) <= TARGET_RATIO and median[2] < TARGET_10MB_S
            rows[name] = row
    failing = [n for n, r in rows.items() if not r["pass"]]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "note": "cpu_s: median CPU seconds of the scoring process over `repeats` calls, sizes interleaved, each "
        "after a gc.collect() (the math-verify worker's CPU is in wall_s only, a median too); cpu_min_s: the "
        "least; ratio_per_10x: median of the per-round ratios (paired_ratios_per_10x: the larger size over the "
        "smaller one timed just before it in the same round); least_ratio_per_10x on cpu_min_s, "
        "median_ratio_per_10x on cpu_s; times floored at 1 ms; peak_mb: Python allocations (tracemalloc)",
        "targets": {"max_ratio_per_10x": TARGET_RATIO, "max_cpu_s_at_10mb": TARGET_10MB_S},
        "families": rows,
        "failing": failing,
        "worst_ratio": max(max(r["ratio_per_10x"]) for r in rows.values()),
        "worst_10mb_cpu_s": max(r["10000000"]["cpu_s"] for r in rows.values()),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    table = Table(title="Scorer.score growth (CPU s)")
    for col in ("family", "100 KB", "1 MB", "10 MB", "x per 10x", "peak MB at 10 MB", "pass"):
        table.add_column(col)
    for name, r in rows.items():
        table.add_row(
            name,
            *(f"{r[str(s)]['cpu_s']:.3f}" for s in SIZES),
            " / ".join(map(str, r["ratio_per_10x"])),
            str(r["10000000"]["peak_mb"]),
            "yes" if r["pass"] else "NO",
        )
    console.print(table)
    console.print(
        f"{len(rows)} families, worst ratio per 10x {report['worst_ratio']}, "
        f"worst 10 MB {report['worst_10mb_cpu_s']} s, "
        f"failing: {', '.join(failing) or 'none'} -> {args.out}"
    )


if __name__ == "__main__":
    main()
