"""Alignment (consistency): the final answer agrees with the answer the reasoning reached.

For a competition the reasoning is the winning persona's section (the seed asks for a final answer
"based on the winner"); for a <think> trace it is the trace itself (the Shannon write-up's
thinking/answer alignment). Agreement is decided by the same equivalence as correctness, so
"twenty-four" in the trace and "24 hives" in the answer agree. No gold answer is needed.
"""

from __future__ import annotations

from fractions import Fraction

from judgecraft.answer import RESULT_RE, Gold
from judgecraft.numbers import close_enough, first_number, lower_same_length, may_start_number
from judgecraft.parse import Parsed, winner_choice
from judgecraft.scores.base import Context, Score

DEFAULTS: dict = {}
RESULTS_WINDOW = 1500  # characters at the end of the reasoning searched for derived results
RANGE = (0.0, 1.0)


def reasoning_source(parsed: Parsed) -> str | None:
    c = parsed.construct
    if c.winner_tag is not None:
        return winner_choice(parsed)[0]
    return c.reasoning_sections[0] if c.reasoning_sections else None


def score(parsed: Parsed, ctx: Context) -> Score:
    source = reasoning_source(parsed)
    if source is None:
        return Score(None, {"reason": "no winning persona or reasoning section to compare with"})
    if parsed.leaked or not parsed.final_answer:
        return Score(0.0, {"source": source, "reason": "no clean final answer after the construct"})
    reached = ctx.section_answer(source)
    if not reached.found:
        return Score(0.0, {"source": source, "reason": f"the <{source}> section reaches no answer"})
    as_gold = Gold.from_extracted(reached)
    final = ctx.final_answer()
    match = ctx.checker.compare(final, as_gold, budget=ctx.answer_budget())
    detail = {"source": source, "reasoning_answer": reached.segment[:120], "final_answer": match.predicted}
    if match.equal:
        return Score(1.0, {**detail, "method": match.method})
    # The trace may end on a check ("24 * 4 = 96, correct"): a result it derived also counts.
    if final.values is not None and len(final.values) == 1:
        derived = derived_results(parsed.section_text(source)[-RESULTS_WINDOW:])
        if any(close_enough(final.values[0], value) for value in derived):
            return Score(1.0, {**detail, "method": "derived in the reasoning"})
    return Score(0.0, {**detail, "method": match.method})


def derived_results(text: str) -> list[Fraction]:
    """Numbers the reasoning derives: right after '=', 'is', 'gives', 'equals' and the like."""
    out = []
    lowered = lower_same_length(text)
    for m in RESULT_RE.finditer(lowered):
        if not may_start_number(lowered, m.end()):
            continue  # "total honey": only a number starting right there counts, and none can
        number = first_number(text[m.end() : m.end() + 40])
        if number is not None and number.start == 0:
            out.append(number.value)
    return [v for v in out if v is not None]
