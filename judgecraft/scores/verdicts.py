"""Reading the LLM judge's verdict: what judge_winner, judge_quality and judge_reflection share.

Not a component: the three judge components read the verdict through here, so none of them
imports another. A missing verdict (the judge did not run) or a failed judge makes a component
not applicable; a row the judge found nothing in scores 0.
"""

from __future__ import annotations

from judgecraft.judge.verdict import JudgeError, Verdict, as_verdict
from judgecraft.parse import winner_choice
from judgecraft.scores.base import Context, Score

AGGREGATES = ("mean", "min", "max", "winner")


def read_verdict(ctx: Context) -> Verdict | Score:
    """The completion's verdict, or the Score a judge component gives when there is no usable one."""
    verdict = as_verdict(ctx.verdict)
    if verdict is None:
        return Score(None, {"reason": "no judge verdict (the judge did not run)"})
    if isinstance(verdict, JudgeError):
        if verdict.kind == "input":
            return Score(0.0, {"reason": f"nothing for the judge to judge: {verdict.message}"})
        return Score(None, {"reason": f"the judge failed: {verdict.message}"})
    return verdict


def judged(ctx: Context, criteria: list[str], aggregate: str) -> Score:
    """Per-candidate means of the judge's grades over `criteria`, folded by `aggregate` (one of AGGREGATES)."""
    verdict = read_verdict(ctx)
    if isinstance(verdict, Score):
        return verdict
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    per = {n: verdict.quality(n, criteria) for n in verdict.candidates}
    per = {n: round(v, 6) for n, v in per.items() if v is not None}
    if not per:
        return Score(None, {"reason": f"the verdict has none of the criteria {criteria}"})
    detail = {"candidates": per, "criteria": list(criteria), "weighted": verdict.weighted}
    if aggregate == "winner":
        name, how = winner_choice(ctx.parsed)
        if name is None or name not in per:
            return Score(0.0, {**detail, "reason": f"the construct names no single judged winner ({how})"})
        return Score(per[name], {**detail, "winner": name})
    fold = {"mean": lambda v: sum(v) / len(v), "min": min, "max": max}[aggregate]
    return Score(fold(list(per.values())), detail)
