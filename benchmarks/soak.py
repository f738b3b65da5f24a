"""Soak: mutation-fuzz real and generated constructs through `Scorer.score` and report what went wrong.

Seeds are the completions of examples/*.jsonl, tests/data/seed_example.txt, deterministic samples
of `judgecraft.strategies` (well-formed pkv and think constructs) and the hostile families of
benchmarks/hostile.py at small sizes. Input i is built from seed `--seed` and i alone (so a run is
reproducible with any number of workers): a seed text, 1-4 mutations (flip, insert a hostile
fragment, delete, duplicate, splice, truncate, case, a run of one character), and an answer and a
prompt of any type. Reported: exceptions raised by `score`, components that failed inside it,
values out of their declared range or a non-finite total, and the slowest inputs with their size,
the CPU time the garbage collector took during each (`gc_cpu_s`, `gc_full`) and the command that
reproduces each. Not part of the test suite.

A full collection walks every object of the worker and lands on whichever input triggers it (most
often a large one, whose objects push the collector's counts). The worker's own start-up (this
script's imports, hypothesis and rich among them: about 40,000 objects, 50-80 ms per full
collection on a loaded 2-core machine) is no cost of the input, so each worker moves it out of the
collector's reach with `gc.freeze()` before the first input; what the scoring allocates is still
collected, and timed. `--no-gc-freeze` measures without it.

Run: `nice -n 10 python benchmarks/soak.py --n 1000000 --workers 2` -> benchmarks/results/soak.json.
A partial report is written every 10,000 inputs; `--resume` continues an interrupted run from it
(inputs depend on (seed, i) alone, so a resumed run scores exactly the inputs a whole run would).
Each resumed stretch is listed in `segments` with the commit it ran on.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import math
import multiprocessing
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile import FAMILIES

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "soak.json"
SLOWEST = 10
console = Console()


@cache
def seeds() -> tuple[tuple[str, str], ...]:
    """(construct, text) pairs every input starts from."""
    from judgecraft.strategies import example_completion

    out = []
    for path in sorted((ROOT / "examples").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                out.append(("pkv", line))  # a broken row is a seed too
                continue
            if isinstance(row, dict) and isinstance(row.get("completion"), str):
                out.append(("think" if "<think>" in row["completion"] else "pkv", row["completion"]))
    out.append(("pkv", (ROOT / "tests" / "data" / "seed_example.txt").read_text(encoding="utf-8")))
    for seed in range(20):
        out.append(("pkv", example_completion("pkv", answer=str(seed * 7), seed=seed).text))
        out.append(("think", example_completion("think", answer=str(seed * 3), seed=seed).text))
    for _name, family in sorted(FAMILIES.items()):
        completion, _, _, construct = family(2000, random.Random(0))
        out.append((construct, completion))
    return tuple(out)


@cache
def fragments() -> tuple[str, ...]:
    from judgecraft.strategies import _BOMBS, _CODE, _ODD, _STRAY, _XML

    tags = [f"<{n}>" for n in ("competition", "pirate", "knight", "viking", "result", "winner", "think")]
    tags += [t.replace("<", "</") for t in tags] + [
        "<pirate/>",
        "< KNIGHT >",
        '<viking id="1">',
        "<pirate " + "a" * 300,
    ]
    short_bombs = tuple(b for b in _BOMBS if len(b) < 300)
    return tuple(tags) + short_bombs + _CODE + _XML + _STRAY + _ODD + ("Wait, let me re-check.", "\\boxed{24}", "24")


ANSWERS = ("24", "-10/9", "0.5", "50%", "x = 2 or x = 3", "\\frac{1}{2}", "", " ", "二十四", "\\boxed{7}")


def odd_answer(rng: random.Random):
    return rng.choice(
        (
            None,
            24,
            -3.5,
            float("nan"),
            float("inf"),
            10**5000,
            b"24",
            b"\xff\xfe",
            {"answer": 24},
            ["24"],
            True,
            object(),
            "9" * 5000,
        )
    )


def odd_prompt(rng: random.Random, construct: str):
    opening = "<think>\n" if construct == "think" else "<competition>\n<pirate>\n"
    return rng.choice(
        (
            None,
            "What is 6 * 4?",
            "Question?\n" + opening,
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": opening}],
            [{"role": "user"}, 5],
            5,
            b"bytes",
            {"role": "user"},
            "<" + " " * 5000,
        )
    )


def mutate(text: str, rng: random.Random) -> str:
    kind = rng.randrange(9)
    at = rng.randint(0, len(text))
    if kind == 0 and text:  # flip one character
        return text[:at] + chr(rng.choice((0, 60, 62, 38, 47, 0xD800, rng.randrange(0x110000)))) + text[at + 1 :]
    if kind == 1:
        return text[:at] + rng.choice(fragments()) + text[at:]
    if kind == 2:
        return text[:at] + text[at + rng.randint(1, 200) :]
    if kind == 3:
        span = text[at : at + rng.randint(1, 400)]
        return text[:at] + span * rng.randint(2, 5) + text[at:]
    if kind == 4:
        other = rng.choice(seeds())[1]
        cut = rng.randint(0, len(other))
        return text[:at] + other[cut:]
    if kind == 5:
        return text[:at]
    if kind == 6:
        end = at + rng.randint(1, 300)
        return text[:at] + text[at:end].swapcase() + text[end:]
    if kind == 7:
        return text[:at] + rng.choice("< \n&{(\\9") * rng.randint(10, 3000) + text[at:]
    return text[:at] + rng.choice(fragments()) * rng.randint(2, 50) + text[at:]


def build(seed: int, i: int) -> tuple[str, object, object, str]:
    """Input i of a run: (completion, answer, prompt, construct), from (seed, i) alone."""
    rng = random.Random(seed * 1_000_003 + i)
    construct, text = rng.choice(seeds())
    for _ in range(rng.randint(0 if rng.random() < 0.1 else 1, 4)):
        text = mutate(text, rng)
    if rng.random() < 0.02:
        text = rng.choice((None, 24, b"bytes", ["list"], {"completion": "x"}))
    answer = rng.choice(ANSWERS) if rng.random() < 0.85 else odd_answer(rng)
    prompt = None if rng.random() < 0.7 else odd_prompt(rng, construct)
    return text, answer, prompt, construct


_scorers: dict = {}
MATH_VERIFY = [True]  # set in each worker from --no-math-verify
GC_FREEZE = [True]  # set in each worker from --no-gc-freeze
_GC = {"cpu_s": 0.0, "full": 0, "started": 0.0}  # the garbage collector's time in this worker, so far


def _gc_watch(phase: str, info: dict) -> None:
    """A gc callback: adds up the CPU time of the collections (a full one walks the whole heap of the
    worker: tens of ms that fall on whichever input happens to trigger it, mostly a large one)."""
    if phase == "start":
        _GC["started"] = time.process_time()
    else:
        _GC["cpu_s"] += time.process_time() - _GC["started"]
        _GC["full"] += info["generation"] == 2


def check(seed: int, i: int) -> dict:
    """Score input i; return what went wrong (nothing for a clean input) and how long it took."""
    from judgecraft import Scorer
    from judgecraft.scores import COMPONENTS

    text, answer, prompt, construct = build(seed, i)
    if not _scorers:
        _scorers["pkv"] = Scorer("pkv", stage="round3", use_math_verify=MATH_VERIFY[0])
        _scorers["think"] = Scorer("think", use_math_verify=MATH_VERIFY[0])
        gc.callbacks.append(_gc_watch)
        if GC_FREEZE[0]:  # the worker's start-up (imports, seeds, scorers) is not walked again by every full collection
            gc.collect()
            gc.freeze()
    scorer = _scorers[construct]
    out: dict = {"i": i, "chars": len(text) if isinstance(text, str) else -1, "construct": construct}
    gc_before, full_before = _GC["cpu_s"], _GC["full"]
    start, cpu = time.perf_counter(), time.process_time()
    try:
        bd = scorer.score(text, answer=answer, prompt=prompt)
    except BaseException as err:  # what the soak is here to find
        out["exception"] = f"{type(err).__name__}: {str(err)[:200]}"
        bd = None
    out["cpu_s"] = time.process_time() - cpu  # ranks the slowest: steady on a loaded machine
    out["seconds"] = time.perf_counter() - start  # wall, includes any wait on the math-verify worker
    out["gc_cpu_s"] = _GC["cpu_s"] - gc_before  # of cpu_s, in the garbage collector (any collection)
    out["gc_full"] = _GC["full"] - full_before  # full collections during this input
    if bd is None:
        return out
    failed = [e for e in bd.errors if not e.startswith("input:")]
    if failed:
        out["component_errors"] = failed[:3]
    bad = [
        f"{n}={c.value}"
        for n, c in bd.components.items()
        if c.value is not None and not (COMPONENTS[n].low <= c.value <= COMPONENTS[n].high)
    ]
    if not math.isfinite(bd.total):
        bad.append(f"total={bd.total}")
    if bad:
        out["out_of_range"] = bad
    return out


def _run_chunk(args: tuple[int, int, int, bool, bool]) -> list[dict]:
    seed, lo, hi, math_verify, gc_freeze = args
    MATH_VERIFY[0], GC_FREEZE[0] = math_verify, gc_freeze
    return [check(seed, i) for i in range(lo, hi)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="inputs to score")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="processes (inputs stay the same)")
    parser.add_argument(
        "--no-math-verify", action="store_true", help="answers by the fast path only (no math-verify worker)"
    )
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="leave the worker's start-up objects to every full collection"
    )
    parser.add_argument("--only", type=int, help="rebuild and score input ONLY of the run, print it and exit")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--resume", action="store_true", help="continue the partial report at --out")
    args = parser.parse_args()
    MATH_VERIFY[0], GC_FREEZE[0] = not args.no_math_verify, not args.no_gc_freeze
    if args.only is not None:
        text, answer, prompt, construct = build(args.seed, args.only)
        console.print({"construct": construct, "answer": repr(answer)[:200], "prompt": repr(prompt)[:200]})
        console.print(repr(text)[:2000])
        console.print(check(args.seed, args.only))
        return
    chunk = 500
    tally = Tally(args)
    if args.resume and args.out.exists():
        tally.resume(json.loads(args.out.read_text()))
    first = tally.counts["inputs"]
    jobs = [
        (args.seed, lo, min(args.n, lo + chunk), MATH_VERIFY[0], GC_FREEZE[0]) for lo in range(first, args.n, chunk)
    ]
    pool = multiprocessing.get_context("spawn").Pool(args.workers) if args.workers > 1 else None
    results = pool.imap(_run_chunk, jobs) if pool else map(_run_chunk, jobs)
    with Progress(console=console) as progress:
        task = progress.add_task("soak", total=args.n, completed=first)
        for n, batch in enumerate(results, start=1):
            tally.add(batch)
            progress.advance(task, len(batch))
            if n % 20 == 0:  # a partial report survives an interrupted run
                tally.write(complete=False)
    if pool:
        pool.close()
    report = tally.write(complete=True)
    console.print(
        f"{report['inputs']} inputs in {report['elapsed_s']:.0f} s: {report['exceptions']} exceptions, "
        f"{report['component_errors']} component errors, {report['out_of_range']} out of range, "
        f"slowest {report['slowest_cpu_s']} CPU s -> {args.out}"
    )


class Tally:
    """Counts, examples and the slowest inputs of a run, written as the report."""

    KINDS = (("exceptions", "exception"), ("component_errors", "component_errors"), ("out_of_range", "out_of_range"))

    def __init__(self, args: argparse.Namespace):
        self.args, self.started = args, time.perf_counter()
        self.counts = {"inputs": 0, "exceptions": 0, "component_errors": 0, "out_of_range": 0}
        self.examples: dict[str, list] = {key: [] for key, _ in self.KINDS}
        self.slowest: list[tuple[float, int, dict]] = []
        self.earlier_s = 0.0  # elapsed time of the stretches before a --resume
        self.segments: list[dict] = [{"from": 0, "commit": _commit()}]

    def resume(self, report: dict) -> None:
        """Take over the counts of an interrupted run with the same seed and math-verify setting."""
        same = (report.get("seed"), report.get("math_verify"), report.get("gc_freeze", False))
        if same != (self.args.seed, MATH_VERIFY[0], GC_FREEZE[0]):
            raise SystemExit("--resume: the report at --out was made with another --seed, math-verify or gc setting")
        self.counts = {key: report[key] for key in self.counts}
        self.examples = {key: report["examples"].get(key, []) for key in self.examples}
        self.slowest = [(r["cpu_s"], r["i"], r) for r in report["slowest"]]
        heapq.heapify(self.slowest)
        self.earlier_s = report["elapsed_s"]
        earlier = report.get("segments") or [{"from": 0, "commit": "unknown"}]
        self.segments = [*earlier, {"from": self.counts["inputs"], "commit": _commit()}]

    def add(self, batch: list[dict]) -> None:
        for r in batch:
            self.counts["inputs"] += 1
            for key, found in self.KINDS:
                if found in r:
                    self.counts[key] += 1
                    if len(self.examples[key]) < 20:
                        self.examples[key].append(r)
            heapq.heappush(self.slowest, (r["cpu_s"], r["i"], r))
            if len(self.slowest) > SLOWEST:
                heapq.heappop(self.slowest)

    def write(self, complete: bool) -> dict:
        args, elapsed = self.args, self.earlier_s + time.perf_counter() - self.started
        flag = ("" if MATH_VERIFY[0] else " --no-math-verify") + ("" if GC_FREEZE[0] else " --no-gc-freeze")
        top = [
            {**r, "cpu_s": round(c, 4), "seconds": round(r["seconds"], 4), "gc_cpu_s": round(r.get("gc_cpu_s", 0), 4),
             "reproduce": f"python benchmarks/soak.py --seed {args.seed} --only {i}{flag}"}
            for c, i, r in sorted(self.slowest, reverse=True)
        ]  # fmt: skip
        report = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "complete": complete,
            "requested": args.n,
            "seed": args.seed,
            "workers": args.workers,
            "math_verify": MATH_VERIFY[0],
            "gc_freeze": GC_FREEZE[0],
            "seeds": len(seeds()),
            "elapsed_s": round(elapsed, 1),
            "segments": [{**seg, "to": nxt["from"]} for seg, nxt in zip(self.segments, self.segments[1:], strict=False)]
            + [{**self.segments[-1], "to": self.counts["inputs"]}],
            "inputs_per_s": round(self.counts["inputs"] / elapsed, 1),
            **self.counts,
            "targets": {"exceptions": 0, "component_errors": 0, "out_of_range": 0, "slowest_cpu_s": 0.1},
            "slowest_cpu_s": top[0]["cpu_s"] if top else None,
            "slowest": top,
            "examples": self.examples,
        }
        args.out.write_text(json.dumps(report, indent=2, default=repr) + "\n")
        return report


def _commit() -> str:
    """The commit a stretch of the soak ran on, '+dirty' when the tree had changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "judgecraft"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


if __name__ == "__main__":
    main()
