"""Answer quality: a clean, concise final answer that (with a gold answer) is correct.

No final answer, or construct tags leaking into it: 0. With a gold answer: 1 when correct, 0 when
wrong. Without one: 0.5 when an answer can be found in it (correctness unknown). Either way the
value is scaled down (to at most half) as the answer grows past `max_chars`, since a final answer
that repeats the whole trace is not an answer.
"""

from __future__ import annotations

from judgecraft.parse import Parsed
from judgecraft.scores.base import Context, Score

DEFAULTS = {"max_chars": 600}
RANGE = (0.0, 1.0)


def conciseness(length: int, max_chars: int) -> float:
    if length <= max_chars:
        return 1.0
    return max(0.5, 1.0 - (length - max_chars) / (3 * max_chars))


def score(parsed: Parsed, ctx: Context) -> Score:
    p = ctx.params["answer_quality"]
    answer = parsed.final_answer
    if parsed.leaked:
        return Score(0.0, {"reason": f"construct tags in the final answer: {', '.join(parsed.leaked)}"})
    if not answer:
        return Score(0.0, {"reason": "no final answer"})
    concise = conciseness(len(answer), p["max_chars"])
    match = ctx.final_answer_match()
    if match is not None:
        return Score((1.0 if match.equal else 0.0) * concise, {"correct": match.equal, "conciseness": concise})
    found = ctx.final_answer().found
    return Score((0.5 if found else 0.0) * concise, {"answer_found": found, "conciseness": concise})
