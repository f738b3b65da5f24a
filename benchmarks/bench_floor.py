"""How fast could stage-only round2 be in Python? Its C-level work alone, against the open-r1 pair.

`bench_scoring.py` finds stage-only round2 (tags, structure, reflection, originality, winner,
correctness) about 2.2x faster than the open-r1 reward pair, against a target of 3x. This benchmark
asks how much of round2's time is Python around the work and how much is the work: the "floor" does
only the C-level steps round2's components cannot do without, with the least Python between them
and no detail, on the same completions:

- judgecraft's parse of the construct (tags, structure and winner read nothing else);
- per persona: lower-casing, the split into sentences and words, the set of distinct words, the
  voice stems' regex over them, the set look-ups of voice and marker words (and the regex of each
  marker whose words are there);
- originality: the persona words dropped, the word 3-gram sets, the sentences sorted, and for each
  pair of personas one set intersection and one rapidfuzz Indel similarity;
- correctness: one regex for the last number after the construct, compared as text.

Every step is the one judgecraft runs (the same functions or the same C calls), so the floor is a
lower bound for any Python implementation of these measures built from these steps. Timing as in
`bench_scoring.py`: interleaved passes, medians of wall time, CPU time beside it.

Writes benchmarks/results/floor.json. Run: `python benchmarks/bench_floor.py [passes]`.
"""

from __future__ import annotations

import json
import platform
import random
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring import open_r1_pair, synthetic_competitions

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "floor.json"
PASSES = 9
LAST_NUMBER_RE = re.compile(r"(\d+)\D*$")
console = Console()


def floor_round2(scorer):
    """The C-level steps of round2 on a corpus, with as little Python between them as they allow."""
    from rapidfuzz.distance import Indel

    from judgecraft.parse import parse
    from judgecraft.scores import originality, reflection
    from judgecraft.scores.base import voice_stems
    from judgecraft.text import distinct_words_with_prefixes, sentences

    construct, limit = scorer.construct, scorer.max_section_chars
    personas = construct.personas
    stems = voice_stems(construct)
    index = reflection._marker_index(tuple(scorer.params["reflection"]["markers"]))
    lexicons = {name: reflection._lexicon(construct.tag(name).voice)[0] for name in personas}
    persona_vocabulary = originality._vocabulary(construct)[0][0]
    pairs = [(later, earlier) for later in range(1, len(personas)) for earlier in range(later)]

    def run(corpus, similarities=None):
        for text, gold in corpus:
            parsed = parse(text, construct, prefill="", max_section_chars=limit)
            grams, ordered = [], []
            for name in personas:
                lowered = parsed.section_text(name).lower()
                split = sentences(lowered)
                words = list(chain.from_iterable(split))
                distinct = set(words)
                stemmed = distinct_words_with_prefixes(distinct, stems)
                for word in distinct & index.words:
                    for i in index.by_word.get(word, ()):
                        list(index.markers[i].pattern.finditer(lowered))
                distinct & lexicons[name]  # the voice words used: the step, not its result
                drop = distinct & persona_vocabulary
                drop.update(stemmed)
                kept = [s if drop.isdisjoint(s) else [w for w in s if w not in drop] for s in split]
                flat = list(chain.from_iterable(kept))
                grams.append(set(zip(flat, flat[1:], flat[2:], strict=False)))
                ordered.append(list(chain.from_iterable(sorted(filter(None, kept), key=" ".join))))
            for later, earlier in pairs:
                shared = len(grams[later] & grams[earlier])
                fuzzy = Indel.normalized_similarity(ordered[earlier], ordered[later])
                if similarities is not None:  # the check that the floor does round2's work (`same_work`)
                    similarities.append((round(shared / len(grams[later]), 4), round(fuzzy, 4)))
            found = LAST_NUMBER_RE.search(parsed.final_answer)
            _ = found is not None and found.group(1) == gold

    return run


def same_work(scorer, floor, corpus) -> int:
    """The floor's 3-gram containment and fuzzy similarity equal originality's on every pair of personas:
    it does the work round2 does. Returns the number of pairs compared."""
    found: list[tuple[float, float]] = []
    floor(corpus, found)
    expected = [
        (pair["containment"], pair["fuzzy"])
        for text, gold in corpus
        for pair in scorer.score(text, answer=gold).components["originality"].detail["similarity"].values()
    ]
    if found != expected:
        raise SystemExit("the floor's similarities differ from originality's: it does not do round2's work")
    return len(found)


def main(passes: int = PASSES) -> None:
    from judgecraft import Scorer

    corpus = synthetic_competitions(300, random.Random(2026))
    scorer = Scorer("pkv", stage="round2", components="weighted")

    def stage_only(corpus):
        for text, gold in corpus:
            scorer.score(text, answer=gold)

    compared = same_work(scorer, floor_round2(scorer), corpus)
    methods = {
        "judgecraft_stage_only_round2": stage_only,
        "floor_round2": floor_round2(scorer),
        "open_r1_pair": open_r1_pair,
    }
    wall: dict[str, list[float]] = {label: [] for label in methods}
    cpu: dict[str, list[float]] = {label: [] for label in methods}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("floor: warm-up", total=len(methods) * (passes + 1))
        for run in methods.values():
            run(corpus)
            progress.advance(task)
        for _ in range(passes):
            for label, run in methods.items():
                progress.update(task, description=f"floor: {label}")
                w0, c0 = time.perf_counter(), time.process_time()
                run(corpus)
                wall[label].append(time.perf_counter() - w0)
                cpu[label].append(time.process_time() - c0)
                progress.advance(task)
    n = len(corpus)
    ms = {label: statistics.median(v) / n * 1000 for label, v in wall.items()}
    pair = ms["open_r1_pair"]
    results = {
        "completions": n,
        "pairs_checked_equal": compared,
        "timing": f"median wall seconds of {passes} interleaved passes (CPU seconds alongside)",
        "ms_per_completion": {label: round(v, 4) for label, v in ms.items()},
        "cpu_ms_per_completion": {label: round(statistics.median(v) / n * 1000, 4) for label, v in cpu.items()},
        "speedup_over_pair": {label: round(pair / v, 3) for label, v in ms.items() if label != "open_r1_pair"},
        "floor_share_of_stage_only": round(ms["floor_round2"] / ms["judgecraft_stage_only_round2"], 3),
        "target_stage_only_speedup": 3.0,
        "environment": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "cpus": __import__("os").cpu_count(),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    s = results["speedup_over_pair"]
    console.print(
        f"pair {pair:.3f} ms/completion; stage-only round2 {s['judgecraft_stage_only_round2']:.2f}x faster, "
        f"its C-level floor {s['floor_round2']:.2f}x (target 3x); the floor is "
        f"{results['floor_share_of_stage_only']:.0%} of round2's time -> {RESULTS.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else PASSES)
