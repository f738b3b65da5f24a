"""Correctness: the final answer equals the gold answer (1.0), or not (0.0); construct tags leaking into it: -1.0.

The final answer is what follows the construct (for the competition, the professional answer after
</competition>). A leak means the model did not finish the construct before answering, which the
seed punishes hardest. Without a gold answer the component does not apply (None). `commit` is the
commitment policy (judgecraft.answer): "strict" (default) scores an answer that offers several
candidates (a hedge, a range, a list, a negation) as wrong; "lenient" takes its first candidate.
"""

from __future__ import annotations

from judgecraft.parse import Parsed
from judgecraft.scores.base import Context, Score

DEFAULTS = {"correct": 1.0, "wrong": 0.0, "leaked": -1.0, "commit": "strict"}
RANGE = (-1.0, 1.0)


def score(parsed: Parsed, ctx: Context) -> Score:
    p = ctx.params["correctness"]
    if parsed.leaked:
        return Score(p["leaked"], {"reason": f"construct tags in the final answer: {', '.join(parsed.leaked)}"})
    if ctx.gold is None:
        return Score(None, {"reason": "no gold answer"})
    if not parsed.final_answer:
        return Score(p["wrong"], {"reason": "no final answer after the construct", "gold": ctx.gold.text})
    if p["commit"] == ctx.checker.commit:
        match = ctx.final_answer_match()
    else:
        checker = ctx.checker.with_commit(p["commit"])
        match = checker.compare(ctx.final_answer(), ctx.gold, budget=ctx.answer_budget())
    return Score(
        p["correct"] if match.equal else p["wrong"],
        {"predicted": match.predicted, "gold": ctx.gold.text, "method": match.method, "reason": match.reason},
    )
