"""Judge quality: the LLM judge's grades of the reasoning (correctness, thoroughness, originality), 0..1.

The judge grades each persona (or the one <think> trace) on its scale; grades are normalised to
0..1 and averaged over `criteria`. `aggregate` folds the personas: mean (default), min (the
weakest persona sets the reward), max, or winner (the persona the construct itself named).
No verdict or a failed judge: not applicable. Nothing to judge (no reasoning at all): 0.
"""

from __future__ import annotations

from judgecraft.parse import Parsed
from judgecraft.scores.base import Context, Score
from judgecraft.scores.verdicts import judged

DEFAULTS = {"criteria": ["correctness", "thoroughness", "originality"], "aggregate": "mean"}
RANGE = (0.0, 1.0)


def score(parsed: Parsed, ctx: Context) -> Score:
    p = ctx.params["judge_quality"]
    return judged(ctx, list(p["criteria"]), p["aggregate"])
