"""Coherence (by rules until a judge is asked): the reasoning moves forward instead of going round in circles.

Two failure modes of small models are measured: steps that repeat an earlier step almost word for
word (rapidfuzz ratio above `repeat_threshold`), and degenerate loops (the share of word n-grams
that occur more than twice). value = 1 - the larger of the two shares; an empty trace scores 0.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from rapidfuzz import fuzz

from judgecraft.parse import Parsed
from judgecraft.scores.base import Context, Score
from judgecraft.text import split_steps

DEFAULTS = {"repeat_threshold": 90.0, "loop_ngram": 8, "max_steps_compared": 200, "step_sketch_chars": 400}
RANGE = (0.0, 1.0)
VECTORISE_FROM_WORDS = 5000  # longer traces count their n-grams by hashes in numpy (several times faster)


def _sketch(step: str, chars: int) -> str:
    """A step as compared: whole when short, else its first and last `chars` characters (bounds each comparison)."""
    return step if len(step) <= 2 * chars else step[:chars] + step[-chars:]


def repeated_step_share(steps: list[str], threshold: float, limit: int, chars: int = 400) -> float:
    """Share of the first `limit` steps that repeat an earlier one (rapidfuzz ratio >= threshold).

    Bounded whatever the trace: at most `limit` steps, each compared through a sketch of at most
    2 x `chars` characters; exact repeats are found by hashing, and pairs whose lengths alone rule
    out the threshold are never compared.
    """
    steps = [s for s in steps[:limit] if s]
    if len(steps) < 2:
        return 0.0
    seen: set[str] = set()
    earlier: list[tuple[int, str]] = []
    # Indel ratio <= 1 - |a - b| / (a + b), so lengths further apart than this cannot reach the threshold.
    spread = (1 - threshold / 100) / (1 + threshold / 100) if threshold < 100 else 0.0
    repeats = 0
    for step in steps:
        sketch = _sketch(step, chars)
        n = len(step)
        if step in seen or any(
            abs(n - m) <= spread * max(n, m) and fuzz.ratio(sketch, other, score_cutoff=threshold)
            for m, other in earlier
        ):
            repeats += 1
        seen.add(step)
        earlier.append((n, sketch))
    return repeats / len(steps)


def loop_share(text: str, n: int) -> float:
    """Share of the word n-grams that belong to an n-gram occurring more than twice."""
    words = text.lower().split()
    if len(words) < n * 2:
        return 0.0
    if len(words) < VECTORISE_FROM_WORDS:
        grams = Counter(zip(*(words[i:] for i in range(n)), strict=False))
        looped = sum(count for count in grams.values() if count > 2)
    else:
        looped = looped_ngrams(words, n)
    return looped / max(1, len(words) - n + 1)


def looped_ngrams(words: list[str], n: int) -> int:
    """How many n-grams occur more than twice, for long traces: no tuple is built per position.

    Each n-gram is a 64-bit hash combined, in numpy, from its words' hashes (salted per process,
    so no text can aim at a collision), and numpy counts equal hashes by sorting them: a 1 MB trace
    costs milliseconds, in proportion to its size. Two different n-grams would have to share all
    64 bits to be counted as one (about one chance in 10^9 for a 1 MB trace).
    """
    ids = np.fromiter(map(hash, words), dtype=np.int64, count=len(words))
    count = ids.size - n + 1
    grams = ids[:count].copy()
    with np.errstate(over="ignore"):
        for i in range(1, n):
            grams = grams * np.int64(1_000_003) + ids[i : i + count]  # wraps around: a hash, not a number
    _, counts = np.unique(grams, return_counts=True)
    return int(counts[counts > 2].sum())


def score(parsed: Parsed, ctx: Context) -> Score:
    p = ctx.params["coherence"]
    sections = parsed.construct.reasoning_sections
    if not sections:
        return Score(None, {"reason": "the construct has no reasoning sections"})
    per_section = {}
    for name in sections:
        text = parsed.section_text(name)
        if not text.strip():
            per_section[name] = {"score": 0.0, "reason": "empty"}
            continue
        repeats = repeated_step_share(
            split_steps(text), p["repeat_threshold"], p["max_steps_compared"], p["step_sketch_chars"]
        )
        loops = loop_share(text, p["loop_ngram"])
        per_section[name] = {
            "score": round(1.0 - max(repeats, loops), 6),
            "repeated_steps": round(repeats, 4),
            "looping": round(loops, 4),
        }
    value = sum(s["score"] for s in per_section.values()) / len(per_section)
    return Score(value, {"sections": per_section})
