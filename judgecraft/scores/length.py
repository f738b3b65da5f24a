"""Length: per reasoning section, rises linearly to an optimum, stays at 1 up to a maximum, then falls.

The seed rewards personas that "write as much as possible" but penalises sections that run on.
Past `maximum` the score falls linearly to 0 at `zero_at` (default twice the maximum). Length is
counted in characters, words or tokens (the tokens of the tokenizer the Scorer was given).
"""

from __future__ import annotations

from typing import Any

from judgecraft.parse import Parsed
from judgecraft.scores.base import Context, Score, clip

DEFAULTS: dict[str, Any] = {"unit": "chars", "optimum": 1200, "maximum": 8000, "zero_at": 0}
RANGE = (0.0, 1.0)
UNITS = ("chars", "words", "tokens")


def measure(text: str, unit: str, tokenizer: Any = None) -> int:
    """Length of a section's text without its surrounding white space."""
    text = text.strip()
    if unit == "chars":
        return len(text)
    if unit == "words":
        return len(text.split())
    if unit == "tokens":
        if tokenizer is None:
            raise ValueError("length unit 'tokens' needs a tokenizer: Scorer(tokenizer=name_or_object)")
        encode = getattr(tokenizer, "encode", None) or tokenizer
        return len(encode(text, add_special_tokens=False)) if text else 0
    raise ValueError(f"unknown length unit {unit!r}; expected one of {UNITS}")


def shape(n: int, optimum: float, maximum: float, zero_at: float) -> float:
    if n <= optimum:
        return n / optimum if optimum > 0 else 1.0
    if n <= maximum:
        return 1.0
    zero_at = zero_at if zero_at > maximum else 2 * maximum
    return clip(1.0 - (n - maximum) / (zero_at - maximum), 0.0, 1.0)


def score(parsed: Parsed, ctx: Context) -> Score:
    p = ctx.params["length"]
    sections = parsed.construct.reasoning_sections
    if not sections:
        return Score(None, {"reason": "the construct has no reasoning sections"})
    per_section = {}
    for name in sections:
        n = measure(parsed.section_text(name), p["unit"], ctx.tokenizer)
        per_section[name] = {"length": n, "score": round(shape(n, p["optimum"], p["maximum"], p["zero_at"]), 6)}
    value = sum(s["score"] for s in per_section.values()) / len(per_section)
    return Score(value, {"unit": p["unit"], "optimum": p["optimum"], "maximum": p["maximum"], "sections": per_section})
