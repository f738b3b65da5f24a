"""Judge quality: the LLM judge's grades of the reasoning (correctness, thoroughness, originality), 0..1.

The judge grades each persona (or the one <think> trace) on its scale; grades are normalised to
0..1 and averaged over `criteria`. `aggregate` folds the personas: mean (default), min (the
weakest persona sets the reward), max, or winner (the persona the construct itself named).
No verdict or a failed judge: not applicable. Nothing to judge (no reasoning at all): 0.
"""

from __future__ import annotations

from judgecraft.judge.verdict import JudgeError, as_verdict
from judgecraft.parse import Parsed
from judgecraft.scores.base import Context, Score

DEFAULTS = {"criteria": ["correctness", "thoroughness", "originality"], "aggregate": "mean"}
RANGE = (0.0, 1.0)
AGGREGATES = ("mean", "min", "max", "winner")


def judged(ctx: Context, criteria: list[str], aggregate: str, parsed: Parsed) -> Score:
    """Shared by judge_quality and judge_reflection: per-candidate means over `criteria`, folded."""
    verdict = as_verdict(ctx.verdict)
    if verdict is None:
        return Score(None, {"reason": "no judge verdict (the judge did not run)"})
    if isinstance(verdict, JudgeError):
        if verdict.kind == "input":
            return Score(0.0, {"reason": f"nothing for the judge to judge: {verdict.message}"})
        return Score(None, {"reason": f"the judge failed: {verdict.message}"})
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    per = {n: verdict.quality(n, criteria) for n in verdict.candidates}
    per = {n: round(v, 6) for n, v in per.items() if v is not None}
    if not per:
        return Score(None, {"reason": f"the verdict has none of the criteria {criteria}"})
    detail = {"candidates": per, "criteria": list(criteria), "weighted": verdict.weighted}
    if aggregate == "winner":
        from judgecraft.scores.winner import winner_choice

        name, how = winner_choice(parsed)
        if name is None or name not in per:
            return Score(0.0, {**detail, "reason": f"the construct names no single judged winner ({how})"})
        return Score(per[name], {**detail, "winner": name})
    fold = {"mean": lambda v: sum(v) / len(v), "min": min, "max": max}[aggregate]
    return Score(fold(list(per.values())), detail)


def score(parsed: Parsed, ctx: Context) -> Score:
    p = ctx.params["judge_quality"]
    return judged(ctx, list(p["criteria"]), p["aggregate"], parsed)
