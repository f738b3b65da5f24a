"""Tags: +placed per correctly placed tag, a penalty per duplicate and per missing tag (the seed's 0.1/-0.1/-0.2).

A tag is correctly placed when it opens, is closed by its own closing tag, sits in its expected
parent and keeps the construct's order. Six tags at +0.1 peak at 0.6, so by default the raw sum is
divided by that peak and a perfect construct scores 1.0; `normalize = false` keeps the seed's scale.
"""

from __future__ import annotations

from judgecraft.parse import Parsed
from judgecraft.scores.base import Context, Score, clip

DEFAULTS = {"placed": 0.1, "duplicate": -0.1, "missing": -0.2, "normalize": True}
RANGE = (0.0, 1.0)


def score(parsed: Parsed, ctx: Context) -> Score:
    p = ctx.params["tags"]
    names = parsed.construct.tag_names
    # Sections hold only the construct's tags, so as many sections as tags means every tag is there.
    in_place = len(parsed.sections) == len(names) and not (parsed.misnested or parsed.unclosed or parsed.out_of_order)
    problems = {} if in_place else _problems(parsed, names)  # in place: the common case, no tag to look at
    placed = [n for n in names if n not in problems]
    extra = sum(parsed.duplicates.values())
    raw = p["placed"] * len(placed) + p["duplicate"] * extra + p["missing"] * len(parsed.missing)
    best = p["placed"] * len(names)
    value = raw / best if p["normalize"] and best > 0 else raw
    return Score(
        clip(value, *RANGE),
        {
            "placed": placed,
            "not_placed": problems,
            "duplicates": dict(parsed.duplicates),
            "missing": list(parsed.missing),
            "raw": round(raw, 6),
        },
    )


def _problems(parsed: Parsed, names: tuple[str, ...]) -> dict[str, str]:
    """Why each tag that is not correctly placed is not."""
    problems: dict[str, str] = {}
    for name in names:
        if name in parsed.missing:
            problems[name] = "missing"
        elif name not in parsed.sections:
            problems[name] = "only a closing tag"
        elif name in parsed.misnested:
            problems[name] = f"inside <{parsed.section(name).parent}>" if parsed.section(name).parent else "outside"
        elif name in parsed.unclosed:
            problems[name] = "never closed"
        elif name in parsed.out_of_order:
            problems[name] = "out of order"
    return problems
