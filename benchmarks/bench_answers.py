"""Answer checking on peers' public cases, plain-number speed, and answer hacks -> results/answers.json.

1. Accuracy: every labelled pair in tests/data/peer_answers (math-verify's tests and issues, TRL's
   and verl's reward tests) judged by judgecraft's AnswerChecker (the correctness component through
   Scorer where the source scores only the text after </think>) and by math-verify 0.9.0 alone
   (parse + verify with defaults; a gold without math delimiters is wrapped in $...$, as
   math-verify's tests and TRL write golds). Accuracy per source file and overall, and every false
   positive and false negative of each side.
2. Speed: plain-number pairs, the same pairs on both sides, fresh pairs in every repetition (so
   judgecraft's verdict cache never answers), median seconds per repetition, and the ratio.
3. Hacks: for each kind in judgecraft.hacks.HACKS, hypothesis draws well-formed pkv constructs
   whose final answer is that hack of the gold; the count scored correctness 1.0 (target 0).

    PYTHONPATH=. python benchmarks/bench_answers.py [--hack-examples 2000] [--reps 7]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import statistics
import subprocess
import time
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path

from rich.progress import Progress

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "peer_answers"
OUT = ROOT / "benchmarks" / "results" / "answers.json"
DELIMITERS = ("$", "\\(", "\\[", "\\boxed")
SHOWN = 240  # characters of a candidate kept in the JSON lists (its tail: answers sit at the end)


def load_pairs() -> list[dict]:
    """Every labelled pair, with the file it came from."""
    rows = []
    for path in sorted(DATA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append({**json.loads(line), "file": path.name})
    return rows


def source_file(row: dict) -> str:
    """The peer's test file (or issue tracker) a pair came from: the unit accuracy is reported on."""
    src = row["source"]
    if src.startswith("https://github.com/huggingface/Math-Verify/issues/"):
        return "huggingface/Math-Verify issues"
    return src.split("::", 1)[0]


def mv_gold(gold: str) -> str:
    return gold if any(d in gold for d in DELIMITERS) else f"${gold}$"


def math_verify_verdict(gold: str, candidate: str) -> bool:
    from math_verify import parse, verify

    try:
        return bool(verify(parse(mv_gold(gold)), parse(candidate)))
    except Exception:  # math-verify raises on some inputs; a crash is a "not equal"
        return False


def judgecraft_verdict(row: dict, checker, scorers: dict) -> bool:
    construct = row.get("construct")
    if construct:
        if construct not in scorers:
            from judgecraft import Scorer

            scorers[construct] = Scorer(construct)
        return scorers[construct].score(row["candidate"], answer=row["gold"]).values()["correctness"] == 1.0
    return bool(checker.check(row["candidate"], row["gold"]).equal)


def _shown(row: dict) -> dict:
    cand = row["candidate"]
    return {
        "gold": row["gold"][-SHOWN:],
        "candidate": cand if len(cand) <= SHOWN else "..." + cand[-SHOWN:],
        "source": row["source"],
        "note": row["note"],
    }


def _summary(rows: list[dict], side: str) -> dict:
    right = sum(r[side] == r["equal"] for r in rows)
    return {
        "n": len(rows),
        "correct": right,
        "accuracy": round(right / len(rows), 4) if rows else None,
        "false_positives": sum(r[side] and not r["equal"] for r in rows),
        "false_negatives": sum(not r[side] and r["equal"] for r in rows),
    }


def accuracy(rows: list[dict], progress: Progress) -> dict:
    """Both sides on every pair; per source file, per data file and overall."""
    from judgecraft.answer import AnswerChecker

    checker, scorers = AnswerChecker(), {}
    task = progress.add_task("peer pairs", total=len(rows))
    for row in rows:
        row["judgecraft"] = judgecraft_verdict(row, checker, scorers)
        row["math_verify"] = math_verify_verdict(row["gold"], row["candidate"])
        progress.advance(task)
    groups: dict[str, list[dict]] = defaultdict(list)
    files: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[source_file(row)].append(row)
        files[row["file"]].append(row)
    mv_tests = [r for r in rows if r["file"].startswith("math_verify")]
    recorded = [r for r in rows if r["mv_expected"] is not None and r["file"].startswith("math_verify")]
    agree = sum(r["math_verify"] == r["mv_expected"] for r in recorded)

    def both(rs: list[dict]) -> dict:
        return {"judgecraft": _summary(rs, "judgecraft"), "math_verify": _summary(rs, "math_verify")}

    return {
        "per_source_file": {k: both(v) for k, v in sorted(groups.items())},
        "per_data_file": {k: both(v) for k, v in sorted(files.items())},
        "math_verify_public_cases": both(mv_tests),
        "overall": both(rows),
        "math_verify_0_9_0_agrees_with_recorded_result": f"{agree} of {len(recorded)} pairs whose source "
        "records a math-verify verdict",
        "false_positives": {
            side: [_shown(r) for r in rows if r[side] and not r["equal"]] for side in ("judgecraft", "math_verify")
        },
        "false_negatives": {
            side: [_shown(r) for r in rows if not r[side] and r["equal"]] for side in ("judgecraft", "math_verify")
        },
    }


def plain_pairs(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """n distinct (gold, candidate) pairs of plain numbers, about half of them equal."""
    forms = ("{}", "The answer is {}.", "\\boxed{{{}}}", "So the final answer is {}.", "$ {} $", "Answer: {}")
    pairs: set[tuple[str, str]] = set()
    while len(pairs) < n:
        gold = str(rng.randint(1, 10**7)) if rng.random() < 0.7 else f"{rng.randint(0, 9999)}.{rng.randint(1, 99)}"
        said = gold if rng.random() < 0.5 else str(rng.randint(1, 10**7))
        pairs.add((gold, rng.choice(forms).format(said)))
    return sorted(pairs)


def speed(reps: int, n: int, progress: Progress) -> dict:
    """Median seconds per repetition for each side on the same fresh plain-number pairs."""
    from judgecraft.answer import AnswerChecker

    checker = AnswerChecker()
    rng = random.Random(1234)
    for gold, cand in plain_pairs(rng, 50):  # warm-up: imports, regexes, math-verify's grammar
        checker.check(cand, gold)
        math_verify_verdict(gold, cand)
    times: dict[str, list[float]] = {"judgecraft": [], "math_verify": []}
    agree = 0
    task = progress.add_task("plain-number speed", total=reps)
    for _ in range(reps):
        pairs = plain_pairs(rng, n)
        t0 = time.perf_counter()
        mine = [checker.check(c, g).equal for g, c in pairs]
        t1 = time.perf_counter()
        theirs = [math_verify_verdict(g, c) for g, c in pairs]
        t2 = time.perf_counter()
        times["judgecraft"].append(t1 - t0)
        times["math_verify"].append(t2 - t1)
        agree += sum(a == b for a, b in zip(mine, theirs, strict=True))
        progress.advance(task)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "pairs_per_repetition": n,
        "repetitions": reps,
        "judgecraft_median_s": round(med["judgecraft"], 5),
        "math_verify_median_s": round(med["math_verify"], 5),
        "judgecraft_us_per_pair": round(med["judgecraft"] / n * 1e6, 2),
        "math_verify_us_per_pair": round(med["math_verify"] / n * 1e6, 2),
        "speedup": round(med["math_verify"] / med["judgecraft"], 2),
        "target_speedup": 10,
        "verdicts_agree": f"{agree} of {reps * n}",
    }


def _count_hacks(kind: str, examples: int, scorer, progress: Progress) -> dict:
    """Draw `examples` hacks of one kind; count those scored correctness 1.0."""
    from hypothesis import HealthCheck, Phase, given, settings

    from judgecraft import strategies as jst

    task = progress.add_task(f"hack {kind}", total=examples)
    seen, accepted = [0], []

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              phases=(Phase.generate,), suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(sample=jst.answer_hacks(kinds=(kind,)))
    def run(sample):
        seen[0] += 1
        if scorer.score(sample.text, answer=sample.answer).values()["correctness"] == 1.0:
            final = sample.text.rsplit("</competition>", 1)[1].strip()
            accepted.append({"gold": sample.answer, "final_answer": final})
        progress.advance(task)

    run()
    return {"examples": seen[0], "scored_correctness_1": len(accepted), "some_accepted": accepted[:8]}


def hacks(examples: int, progress: Progress) -> dict:
    """Per hack kind (judgecraft.hacks.HACKS): how many drawn hacks scored correctness 1.0."""
    from judgecraft import Scorer
    from judgecraft.hacks import HACKS

    scorer = Scorer("pkv", components=["tags", "correctness"])  # correctness is what is counted; tags shows well-formed
    return {kind: _count_hacks(kind, examples, scorer, progress) for kind in HACKS}


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--hack-examples", type=int, default=2000, help="hypothesis examples per hack kind")
    ap.add_argument("--reps", type=int, default=7, help="speed repetitions (median over them)")
    ap.add_argument("--pairs", type=int, default=300, help="plain-number pairs per speed repetition")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)  # math-verify logs every parse failure
    rows = load_pairs()
    started = time.time()
    with Progress() as progress:
        acc = accuracy(rows, progress)
        spd = speed(args.reps, args.pairs, progress)
        hck = hacks(args.hack_examples, progress)
    result = {
        "settings": {
            "data": str(DATA.relative_to(ROOT)),
            "pairs": len(rows),
            "math_verify": version("math-verify"),
            "math_verify_call": "verify(parse(gold), parse(candidate)) with defaults; gold wrapped in $...$ when it "
            "has no $, \\(, \\[ or \\boxed",
            "judgecraft_call": "AnswerChecker().check(candidate, gold).equal (defaults: commit='strict', 5 s timeout); "
            "rows with a construct: Scorer(construct).score(candidate, answer=gold) correctness == 1.0",
            "hack_examples_per_kind": args.hack_examples,
            "hack_construct": "pkv (Scorer with the tags and correctness components)",
            "speed_repetitions": args.reps,
            "speed_pairs_per_repetition": args.pairs,
            "judgecraft_commit": _git_commit(),
            "python": platform.python_version(),
            "seconds": None,
        },
        "accuracy": acc,
        "speed_plain_numbers": spd,
        "hacks": hck,
    }
    result["settings"]["seconds"] = round(time.time() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    mvp, overall = acc["math_verify_public_cases"], acc["overall"]
    hacked, drawn = sum(h["scored_correctness_1"] for h in hck.values()), sum(h["examples"] for h in hck.values())
    print(
        f"peer pairs {len(rows)}: judgecraft {overall['judgecraft']['accuracy']:.3f} vs math-verify "
        f"{overall['math_verify']['accuracy']:.3f} (math-verify's public cases {mvp['judgecraft']['accuracy']:.3f} vs "
        f"{mvp['math_verify']['accuracy']:.3f}); plain numbers {spd['speedup']:.1f}x faster; hacks accepted {hacked} "
        f"of {drawn}; -> {args.out}"
    )


if __name__ == "__main__":
    main()
