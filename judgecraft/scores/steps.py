"""Step structure: the reasoning is laid out in explicit steps ("1.", "Step 2:", "First,", "Then,", "- ").

value = min(1, marked steps / target_steps), averaged over the construct's reasoning sections.
"""

from __future__ import annotations

from judgecraft.parse import Parsed
from judgecraft.scores.base import Context, Score
from judgecraft.text import count_marked_steps

DEFAULTS = {"target_steps": 3}
RANGE = (0.0, 1.0)


def score(parsed: Parsed, ctx: Context) -> Score:
    target = ctx.params["steps"]["target_steps"]
    sections = parsed.construct.reasoning_sections
    if not sections:
        return Score(None, {"reason": "the construct has no reasoning sections"})
    counts = {name: count_marked_steps(parsed.section_text(name)) for name in sections}
    value = sum(min(1.0, n / target) if target > 0 else 1.0 for n in counts.values()) / len(counts)
    return Score(value, {"marked_steps": counts, "target_steps": target})
