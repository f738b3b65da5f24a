"""Winner: the winner tag holds exactly one persona's name (1.0), a name with extra text (0.5), else 0.

"Exactly" forgives case, surrounding white space, quotes, bold and a final full stop: `**Pirate**.`
is still just the name. Two different names, or none, score 0.
"""

from __future__ import annotations

from judgecraft.parse import Parsed, winner_choice
from judgecraft.scores.base import Context, Score

DEFAULTS = {"exact": 1.0, "with_text": 0.5}
RANGE = (0.0, 1.0)


def score(parsed: Parsed, ctx: Context) -> Score:
    p = ctx.params["winner"]
    c = parsed.construct
    if c.winner_tag is None:
        return Score(None, {"reason": "the construct has no winner tag"})
    name, how = winner_choice(parsed)
    value = {"exact": p["exact"], "with_text": p["with_text"]}.get(how, 0.0)
    return Score(value, {"winner": name, "how": how, "text": parsed.section_text(c.winner_tag).strip()[:200]})
