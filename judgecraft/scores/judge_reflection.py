"""Judge reflection: the LLM judge's self-reflection grade, 0..1 (does the reasoning check and correct itself?).

The seed's author noted that detecting real self-reflection "takes a lot of compute" and that
the judge can do it; this is that judgement, next to the rule-based `reflection` component.
Per persona (or the <think> trace), folded by `aggregate` as in judge_quality.
"""

from __future__ import annotations

from judgecraft.parse import Parsed
from judgecraft.scores.base import Context, Score
from judgecraft.scores.verdicts import judged

DEFAULTS = {"criterion": "self_reflection", "aggregate": "mean"}
RANGE = (0.0, 1.0)


def score(parsed: Parsed, ctx: Context) -> Score:
    p = ctx.params["judge_reflection"]
    return judged(ctx, [p["criterion"]], p["aggregate"])
