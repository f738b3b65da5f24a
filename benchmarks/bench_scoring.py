"""Scoring speed and answer-checking accuracy, each against a baseline measured in the same run.

1. Per completion: judgecraft's full breakdown (every component of the competition, round3) and
   stage-only scoring (`components="weighted"`: what a trainer needs, for round1/2/3) against the
   common open-r1-style reward pair (math-verify parse + verify of every completion, plus a regex
   format check), on the same completions, interleaved passes, medians.
2. Length scaling: a full breakdown without correctness for persona sections of 1k, 4k, 16k and
   32k tokens (counted with SmolLM2's tokenizer).
3. Answer checking: accuracy on the labelled cases in benchmarks/data/answer_cases.jsonl, and the
   time per check on plain numbers, judgecraft's checker against math-verify alone.

Writes benchmarks/results/scoring.json. Run: `make bench` or `python benchmarks/bench_scoring.py`.
"""

from __future__ import annotations

import itertools
import json
import platform
import random
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "scoring.json"
CASES = ROOT / "benchmarks" / "data" / "answer_cases.jsonl"
REPEATS = 5
PASSES = 9  # interleaved passes per method over the corpus: this VM's pass times move by up to 25%
console = Console()

FORMAT_RE = re.compile(
    r"^\s*<competition>\s*<pirate>.*?</pirate>\s*<knight>.*?</knight>\s*<viking>.*?</viking>\s*"
    r"<result>.*?<winner>.*?</winner>\s*</result>\s*</competition>",
    re.DOTALL,
)
VOCAB = (
    "hive candle wax count divide multiply total number answer check again honey bee field flower summer "
    "winter yield produce batch group step result verify careful think reason because therefore"
).split()
VOICES = {"pirate": "Arr matey", "knight": "Hark, good sir", "viking": "By Odin"}


def synthetic_competitions(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """Well-formed competitions like the seed's, with varied numbers, winners and lengths."""
    out = []
    for _ in range(n):
        a, b = rng.randint(2, 60), rng.randint(2, 60)
        gold = a * b
        sections = []
        for persona, voice in VOICES.items():
            steps = [
                f"{voice}! If {a} hives give {a * 4} candles, one hive gives 4 candles.",
                f"We need {gold * 4} candles, so {gold * 4} / 4 = {gold} hives.",
            ]
            if rng.random() < 0.5:
                steps.append(f"Wait, let me re-check: {gold} times 4 is {gold * 4}, which matches.")
            steps += [" ".join(rng.sample(VOCAB, 10)) + "." for _ in range(rng.randint(2, 12))]
            sections.append(f"<{persona}>\n{' '.join(steps)}\n</{persona}>")
        winner = rng.choice(list(VOICES))
        text = (
            "<competition>\n" + "\n".join(sections) + f"\n<result>\nBeep. All three reach {gold}.\n"
            f"<winner>{winner}</winner>\n</result>\n</competition>\n"
            f"The {winner} showed the clearest reasoning: the answer is {gold} hives."
        )
        out.append((text, str(gold)))
    return out


def example_rows() -> list[tuple[str, str]]:
    """Real completions from the example dumps, when they are there."""
    rows = []
    for name in ("dump.jsonl", "handwritten.jsonl"):
        path = ROOT / "examples" / name
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row.get("completion"), str) and row.get("answer") is not None:
                rows.append((row["completion"], str(row["answer"])))
    return rows


@cache
def _open_r1_config() -> list:
    from latex2sympy2_extended import NormalizationConfig
    from math_verify import LatexExtractionConfig

    return [
        LatexExtractionConfig(
            normalization_config=NormalizationConfig(
                nits=False, malformed_operators=False, basic_latex=True, equations=True, boxed="all", units=True
            ),
            boxed_match_priority=0,
            try_extract_without_anchor=False,
        )
    ]


def open_r1_pair(corpus: list[tuple[str, str]]) -> None:
    """open-r1's accuracy reward (the gold parsed with defaults, the completion with a LaTeX-only config
    that tries \\boxed first: it cannot read plain-text answers such as "24 hives"), plus the format regex."""
    from math_verify import parse, verify

    config = _open_r1_config()
    for text, gold in corpus:
        verify(
            parse(gold, extraction_mode="first_match"),
            parse(text, extraction_config=config, extraction_mode="first_match"),
        )
        FORMAT_RE.match(text)


def best_time(fn, repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_per_completion(progress, corpus: list[tuple[str, str]]) -> dict:
    from math_verify import parse, verify

    from judgecraft import Scorer

    scorer = Scorer("pkv", stage="round3")
    stage_only = {stage: Scorer("pkv", stage=stage, components="weighted") for stage in ("round1", "round2", "round3")}

    def judgecraft_breakdowns():
        for text, gold in corpus:
            scorer.score(text, answer=gold)

    def stage_scoring(stage_scorer):
        def run():
            for text, gold in corpus:
                stage_scorer.score(text, answer=gold)

        return run

    def math_verify_defaults():
        for text, gold in corpus:
            verify(parse(gold), parse(text))
            FORMAT_RE.match(text)

    methods = (
        ("judgecraft_full_breakdown", judgecraft_breakdowns),
        *((f"judgecraft_stage_only_{stage}", stage_scoring(s)) for stage, s in stage_only.items()),
        ("open_r1_pair", lambda: open_r1_pair(corpus)),
        ("math_verify_defaults_pair", math_verify_defaults),
    )
    task = progress.add_task("per-completion: warm-up", total=len(methods) * (PASSES + 1))
    for _, fn in methods:  # warm-up: imports, caches, the answer worker
        fn()
        progress.advance(task)
    wall: dict[str, list[float]] = {label: [] for label, _ in methods}
    cpu: dict[str, list[float]] = {label: [] for label, _ in methods}
    for _ in range(PASSES):  # interleaved, so a change in the machine's load hits every method alike
        for label, fn in methods:
            progress.update(task, description=f"per-completion: {label}")
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[label].append(time.perf_counter() - w0)
            cpu[label].append(time.process_time() - c0)
            progress.advance(task)
    times = {label: statistics.median(v) for label, v in wall.items()}
    cpu_times = {label: statistics.median(v) for label, v in cpu.items()}
    n = len(corpus)
    pair = times["open_r1_pair"]
    return {
        "completions": n,
        "mean_chars": round(statistics.mean(len(t) for t, _ in corpus)),
        "timing": f"median wall seconds of {PASSES} interleaved passes (CPU seconds alongside)",
        "ms_per_completion": {label: round(t / n * 1000, 4) for label, t in times.items()},
        "cpu_ms_per_completion": {label: round(t / n * 1000, 4) for label, t in cpu_times.items()},
        "components": {stage: list(s.components) for stage, s in stage_only.items()}
        | {"full": list(scorer.components)},
        "judgecraft_ms_per_completion": round(times["judgecraft_full_breakdown"] / n * 1000, 4),
        "open_r1_pair_ms_per_completion": round(pair / n * 1000, 4),
        "speedup": round(pair / times["judgecraft_full_breakdown"], 3),
        "stage_only_speedup": {stage: round(pair / times[f"judgecraft_stage_only_{stage}"], 3) for stage in stage_only},
        "speedup_vs_math_verify_defaults": round(
            times["math_verify_defaults_pair"] / times["judgecraft_full_breakdown"], 3
        ),
        "target_speedup": {"full_breakdown": 1.0, "stage_only": 3.0},
    }


def bench_scaling(progress) -> dict:
    from transformers import AutoTokenizer

    from judgecraft import Scorer
    from judgecraft.models import small_model_dir

    tokenizer = AutoTokenizer.from_pretrained(small_model_dir())
    rng = random.Random(7)
    scorer = Scorer("pkv", stage="round3")
    scorer = Scorer("pkv", stage="round3", components=[c for c in scorer.components if c != "correctness"])

    def persona_text(tokens: int, voice: str) -> str:
        sentences, used = [], 0
        while used < tokens:
            sentence = f"{voice} " if rng.random() < 0.1 else ""
            sentence += " ".join(rng.sample(VOCAB, 9)) + f" {rng.randint(1, 999)}."
            if rng.random() < 0.05:
                sentence = "Wait, let me re-check: " + sentence
            sentences.append(sentence)
            used += len(tokenizer.encode(sentence, add_special_tokens=False))
        return " ".join(sentences)

    sizes = (1000, 4000, 16000, 32000)
    task = progress.add_task("length scaling", total=len(sizes))
    rows = {}
    for tokens in sizes:
        sections = "".join(f"<{p}>\n{persona_text(tokens, v)}\n</{p}>\n" for p, v in VOICES.items())
        text = f"<competition>\n{sections}<result>\nok\n<winner>pirate</winner>\n</result>\n</competition>\n24"
        measured = len(tokenizer.encode(text.split("</pirate>")[0], add_special_tokens=False))
        scorer.score(text)
        seconds = best_time(lambda text=text: scorer.score(text), 7)
        rows[str(tokens)] = {"persona_tokens": measured, "chars": len(text), "ms": round(seconds * 1000, 3)}
        progress.advance(task)
    ratios = {f"{b}/{a}": round(rows[str(b)]["ms"] / rows[str(a)]["ms"], 3) for a, b in itertools.pairwise(sizes)}
    return {
        "per_size": rows,
        "time_ratio_for_4x_text": ratios,
        "target_max_ratio_for_4x_text": 4.5,
        "ms_at_32k_tokens": rows["32000"]["ms"],
        "target_ms_at_32k_tokens": 50.0,
    }


def bench_answers(progress) -> dict:
    from math_verify import parse, verify

    from judgecraft import AnswerChecker

    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    checker = AnswerChecker(timeout=5.0)
    task = progress.add_task("answer accuracy", total=len(cases))
    ours = theirs = 0
    disagreements = []
    for case in cases:
        mine = checker.check(case["prediction"], case["gold"]).equal
        mv = bool(verify(parse(f"${case['gold']}$"), parse(case["prediction"])))
        ours += mine == case["equal"]
        theirs += mv == case["equal"]
        if mine != case["equal"] or mv != case["equal"]:
            disagreements.append({**case, "judgecraft": mine, "math_verify": mv})
        progress.advance(task)

    plain = [c for c in cases if c["kind"] in ("integer", "decimal")]

    def ours_plain():
        for c in plain:
            checker.check(c["prediction"], c["gold"])

    def theirs_plain():
        for c in plain:
            verify(parse(c["gold"]), parse(c["prediction"]))

    ours_plain(), theirs_plain()
    t_ours, t_theirs = best_time(ours_plain), best_time(theirs_plain)
    return {
        "cases": len(cases),
        "judgecraft_accuracy": round(ours / len(cases), 4),
        "math_verify_accuracy": round(theirs / len(cases), 4),
        "mistakes": disagreements,
        "plain_numbers": {
            "cases": len(plain),
            "judgecraft_us_per_check": round(t_ours / len(plain) * 1e6, 2),
            "math_verify_us_per_check": round(t_theirs / len(plain) * 1e6, 2),
            "speedup": round(t_theirs / t_ours, 2),
        },
        "note": "hand-labelled cases written for this project; judgecraft's extraction was developed against them",
    }


def main() -> None:
    rng = random.Random(2026)
    corpus = synthetic_competitions(300, rng)
    real = example_rows()
    with Progress(console=console, transient=True) as progress:
        results = {
            "synthetic_competitions": bench_per_completion(progress, corpus),
            "example_dumps": bench_per_completion(progress, real) if real else None,
            "length_scaling": bench_scaling(progress),
            "answer_checking": bench_answers(progress),
        }
    results["environment"] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": __import__("os").cpu_count(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    table = Table(title="judgecraft scoring benchmark")
    table.add_column("measure")
    table.add_column("judgecraft", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("ratio / target", justify="right")
    for key in ("synthetic_competitions", "example_dumps"):
        r = results[key]
        if r:
            table.add_row(
                f"ms per completion ({key}, n={r['completions']})",
                f"{r['judgecraft_ms_per_completion']:.3f}",
                f"{r['open_r1_pair_ms_per_completion']:.3f}",
                f"{r['speedup']:.2f}x / 1x",
            )
            for stage, speedup in r["stage_only_speedup"].items():
                table.add_row(
                    f"  stage-only {stage} ({len(r['components'][stage])} components)",
                    f"{r['ms_per_completion'][f'judgecraft_stage_only_{stage}']:.3f}",
                    f"{r['open_r1_pair_ms_per_completion']:.3f}",
                    f"{speedup:.2f}x / 3x",
                )
    scaling = results["length_scaling"]
    for size, row in scaling["per_size"].items():
        table.add_row(f"breakdown, personas of {size} tokens", f"{row['ms']:.1f} ms", "", "")
    table.add_row("time for 4x text", ", ".join(f"{v:.2f}" for v in scaling["time_ratio_for_4x_text"].values()), "",
                  "<= 4.5")  # fmt: skip
    answers = results["answer_checking"]
    table.add_row(
        f"answer accuracy ({answers['cases']} cases)",
        f"{answers['judgecraft_accuracy']:.3f}",
        f"{answers['math_verify_accuracy']:.3f}",
        ">= baseline",
    )
    plain = answers["plain_numbers"]
    table.add_row(
        "us per plain-number check",
        f"{plain['judgecraft_us_per_check']:.1f}",
        f"{plain['math_verify_us_per_check']:.1f}",
        f"{plain['speedup']:.1f}x / >= 1x",
    )
    console.print(table)
    synthetic = results["synthetic_competitions"]
    console.print(
        f"summary: full breakdown {synthetic['speedup']:.2f}x and stage-only round3 "
        f"{synthetic['stage_only_speedup']['round3']:.2f}x faster than math-verify+regex; "
        f"32k-token personas in {scaling['ms_at_32k_tokens']:.1f} ms; answer accuracy "
        f"{answers['judgecraft_accuracy']:.3f} vs {answers['math_verify_accuracy']:.3f}; results in "
        f"{RESULTS.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
