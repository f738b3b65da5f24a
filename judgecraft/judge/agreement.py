"""Judge-verifier agreement: does the judge's correctness grade say what the answer checker says?

On rows with a gold answer, the judge's correctness grade (normalised 0..1, averaged over the
candidates it graded) is thresholded at `threshold` and compared with the answer checker (the
construct's `correctness` component: the final answer equals the gold one). Cohen's kappa corrects
raw agreement for chance: 1 is perfect agreement, 0 is what two coins would do, below 0 is worse.
A judge with kappa near 0 grades correctness by something other than the answer (style, length,
confidence), which is what a policy trained on it will learn to exploit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from judgecraft.judge.verdict import Verdict

THRESHOLD = 0.5


def judge_says_right(verdict: Any, threshold: float = THRESHOLD) -> bool | None:
    """The judge's correctness call on a verdict (mean over candidates), or None without a grade."""
    if not isinstance(verdict, Verdict):
        return None
    grades = [s["correctness"] for s in verdict.scores.values() if "correctness" in s]
    return None if not grades else sum(grades) / len(grades) >= threshold


def table(pairs: Iterable[tuple[bool | None, bool | None]]) -> dict[str, int]:
    """The 2x2 table of (judge, checker) calls, rows with either missing left out."""
    out = {"both_right": 0, "judge_only": 0, "checker_only": 0, "both_wrong": 0}
    for judge, checker in pairs:
        if judge is None or checker is None:
            continue
        key = ("both_right" if checker else "judge_only") if judge else ("checker_only" if checker else "both_wrong")
        out[key] += 1
    return out


def kappa(counts: dict[str, int]) -> dict[str, Any]:
    """Cohen's kappa, raw agreement and the row count from a 2x2 table (`table`)."""
    a, b, c, d = (counts.get(k, 0) for k in ("both_right", "judge_only", "checker_only", "both_wrong"))
    n = a + b + c + d
    if n == 0:
        return {"rows": 0, "agreement": None, "kappa": None, **counts}
    observed = (a + d) / n
    expected = ((a + b) * (a + c) + (c + d) * (b + d)) / (n * n)
    value = None if expected >= 1.0 else (observed - expected) / (1.0 - expected)
    return {
        "rows": n,
        "agreement": round(observed, 4),
        "kappa": None if value is None else round(value, 4),
        "threshold": THRESHOLD,
        **{k: counts.get(k, 0) for k in ("both_right", "judge_only", "checker_only", "both_wrong")},
    }


def checker_says_right(scorer: Any, text: str | None, answer: Any, prompt: Any = None) -> bool | None:
    """The answer checker's call (the construct's correctness component), or None without a gold answer."""
    if answer is None or text is None:
        return None
    value = scorer.score(text, answer=answer, prompt=prompt).components["correctness"].value
    return None if value is None else value >= 1.0
