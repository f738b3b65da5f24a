"""Judge accuracy: did the construct's own <winner> pick a persona whose answer is actually right?

Each persona's answer is extracted from its own section and checked against the gold answer, so
the breakdown also shows which personas were right; `any_correct` tells whether a right pick was
possible at all. No gold answer: not applicable. No winner named: 0.
"""

from __future__ import annotations

from judgecraft.parse import Parsed, winner_choice
from judgecraft.scores.base import Context, Score

DEFAULTS: dict = {}
RANGE = (0.0, 1.0)


def score(parsed: Parsed, ctx: Context) -> Score:
    c = parsed.construct
    if c.winner_tag is None or not c.personas:
        return Score(None, {"reason": "the construct has no winner or personas"})
    if ctx.gold is None:
        return Score(None, {"reason": "no gold answer"})
    personas = {}
    for name in c.personas:
        if name not in parsed.sections:
            personas[name] = {"answer": None, "correct": False}
            continue
        match = ctx.section_match(name)
        personas[name] = {"answer": match.predicted or None, "correct": match.equal}
    winner, how = winner_choice(parsed)
    detail = {"winner": winner, "personas": personas, "any_correct": any(p["correct"] for p in personas.values())}
    if winner is None:
        return Score(0.0, {**detail, "reason": f"no single winner named ({how})"})
    return Score(1.0 if personas[winner]["correct"] else 0.0, detail)
