"""Growth: how the time of `Scorer.score` grows with the size of hostile completions.

For every family in benchmarks/hostile.py (the quadratics measured in issue 12 and every family
`judgecraft.strategies.adversarial` draws) a completion of 100 KB, 1 MB and 10 MB is scored with
the full breakdown (pkv round3, or the think construct's default stage) and a gold answer. Reported:
CPU seconds of the scoring process (median of repeats), wall seconds, the ratio per 10x size and
the peak of Python allocations (tracemalloc, measured in a separate call so it does not slow the
timed ones). Targets: at most 12x time per 10x size, 10 MB under 10 s on one core.

Writes benchmarks/results/growth.json. Run: `nice -n 10 python benchmarks/bench_growth.py`.
"""

from __future__ import annotations

import argparse
import json
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
REPEATS = {100_000: 9, 1_000_000: 5, 10_000_000: 3}
TARGET_RATIO, TARGET_10MB_S = 12.0, 10.0
console = Console()


def measure(scorer, case, repeats: int) -> dict:
    completion, answer, prompt, _ = case
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        bd = scorer.score(completion, answer=answer, prompt=prompt)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    tracemalloc.start()
    scorer.score(completion, answer=answer, prompt=prompt)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "chars": len(completion) + len(prompt or ""),
        "cpu_s": round(statistics.median(cpu), 4),
        "wall_s": round(statistics.median(wall), 4),
        "peak_mb": round(peak / 2**20, 1),
        "errors": bd.errors[:2],
        "cut": bd.cut,
    }


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
            row = {}
            for size in SIZES:
                progress.update(task, description=f"{name} {size // 1000} KB")
                case = FAMILIES[name](size, random.Random(size))
                row[str(size)] = measure(scorers[case[3]], case, REPEATS[size])
                progress.advance(task)
            cpu = [row[str(s)]["cpu_s"] for s in SIZES]
            row["ratio_per_10x"] = [ratio(cpu[0], cpu[1]), ratio(cpu[1], cpu[2])]
            row["pass"] = max(row["ratio_per_10x"]) <= TARGET_RATIO and cpu[2] < TARGET_10MB_S
            rows[name] = row
    failing = [n for n, r in rows.items() if not r["pass"]]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "note": "cpu_s: CPU seconds of the scoring process (the math-verify worker's CPU is in wall_s only); "
        "ratios on cpu_s, floored at 1 ms; peak_mb: Python allocations (tracemalloc)",
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
