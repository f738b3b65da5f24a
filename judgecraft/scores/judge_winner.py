"""Judge winner: does the construct's own <winner> agree with the LLM judge's pick among its personas?

With `soft` (the default) the value is the probability the judge gives the construct's winner: its
share of the shuffles' votes, or the logprob-weighted pick where the backend returned logprobs.
That is a dense reward (a close call is worth about a half) instead of a 0/1 cliff. Without it:
1.0 when the names agree, 0.0 when not, not applicable when the judge's shuffles tied. No verdict
(the judge did not run, or failed): not applicable. No single winner named: 0.
"""

from __future__ import annotations

from judgecraft.parse import Parsed, winner_choice
from judgecraft.scores.base import Context, Score
from judgecraft.scores.verdicts import read_verdict

DEFAULTS = {"soft": True}
RANGE = (0.0, 1.0)


def score(parsed: Parsed, ctx: Context) -> Score:
    c = parsed.construct
    if c.winner_tag is None or not c.personas:
        return Score(None, {"reason": "the construct has no winner or personas"})
    verdict = read_verdict(ctx)
    if isinstance(verdict, Score):
        return verdict
    name, how = winner_choice(parsed)
    detail = {"winner": name, "judge_winner": verdict.winner, "judge_probs": verdict.winner_probs}
    if name is None:
        return Score(0.0, {**detail, "reason": f"the construct names no single winner ({how})"})
    if name not in verdict.candidates:
        return Score(None, {**detail, "reason": f"the verdict did not judge {name!r}: {verdict.candidates}"})
    if ctx.params["judge_winner"]["soft"]:
        return Score(verdict.winner_probs.get(name, 0.0), detail)
    if verdict.winner is None:
        return Score(None, {**detail, "reason": "the judge's shuffles tied"})
    return Score(1.0 if verdict.winner == name else 0.0, detail)
