"""Answer hacks: final answers that contain or circle the gold answer without committing to it.

A policy trained against a lenient answer checker learns to write these within a few hundred GRPO
steps, so none of them may earn full correctness. `hacked_answer(gold, kind, rng)` writes one of
them for a plain-number gold; `judgecraft.strategies.answer_hacks` wraps it in a well-formed
construct for property tests.

    sign         the gold with its sign flipped, also before LaTeX (-\\frac{48}{2} for 24)
    hedge        the gold and another value offered together ("24 or maybe 25")
    range        an interval that starts or ends at the gold ("between 24 and 30", "24-30")
    enumeration  a list that includes the gold ("24, 25, 26", "$\\{24, 25\\}$")
    negation     the gold denied ("not 24", "not 24, it is 25")
    scale        the gold off by a power of ten or a percent sign (2400, 0.24, 0.24%, "24 thousand")
    extra_terms  the gold with something added or multiplied on ("24 + 5")
    second_boxed two boxed answers, the gold and another ("\\boxed{24} \\boxed{25}")
"""

from __future__ import annotations

import random
import re
from decimal import Decimal
from fractions import Fraction

HACKS = ("sign", "hedge", "range", "enumeration", "negation", "scale", "extra_terms", "second_boxed")
ZERO_PROOF = ("sign", "scale")  # kinds that cannot hack a gold of 0 (-0 and 0 * 100 are 0)

_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")


def _fmt(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros (2.4E+3 -> 2400, 0.50 -> 0.5)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "+0") else text


def _latex_fraction(value: Fraction, rng: random.Random) -> str:
    """The value as \\frac{p}{q} with a sign in front (an integer n as \\frac{2n}{2})."""
    num, den = (value.numerator * 2, 2) if value.denominator == 1 else (value.numerator, value.denominator)
    sign = "-" if num < 0 else ""
    return f"{sign}\\{rng.choice(('frac', 'dfrac'))}{{{abs(num)}}}{{{den}}}"


def _others(gold: Decimal, rng: random.Random, n: int) -> list[str]:
    """n distinct values that differ from the gold (gold + 1..999)."""
    steps = rng.sample(range(1, 1000), n)
    return [_fmt(gold + step) for step in sorted(steps)]


def hacked_answer(gold: str, kind: str, rng: random.Random) -> str:
    """A final answer of the given hack kind for a plain-number gold ("24", "-3.5"); never equal to it."""
    if kind not in HACKS:
        raise ValueError(f"unknown hack {kind!r}; known: {HACKS}")
    if not _PLAIN_NUMBER.match(gold.strip()):
        raise ValueError(f"answer hacks need a plain-number gold answer, got {gold!r}")
    value = Decimal(gold.strip())
    if value == 0 and kind in ZERO_PROOF:
        raise ValueError(f"a {kind} hack of 0 is still 0: pick a non-zero gold")
    g = _fmt(value)
    o1, o2, o3 = _others(value, rng, 3)
    forms = _FORMS[kind](g, value, o1, o2, o3, rng)
    return rng.choice(forms)


def usable_kinds(gold: str | None, kinds: tuple[str, ...] | None) -> list[str]:
    """The kinds that can hack this gold (all for None), with a clear error for what cannot be hacked."""
    usable = list(kinds or HACKS)
    if set(usable) - set(HACKS):
        raise ValueError(f"unknown hacks {sorted(set(usable) - set(HACKS))}; known: {HACKS}")
    if gold is None:
        return usable
    hacked_answer(gold, "hedge", random.Random(0))  # raises for a gold that is not a plain number
    if Decimal(gold.strip()) == 0:
        usable = [k for k in usable if k not in ZERO_PROOF]
        if not usable:
            raise ValueError(f"none of the hacks {kinds} changes a gold of 0")
    return usable


def _sign(g: str, value: Decimal, o1: str, o2: str, o3: str, rng: random.Random) -> list[str]:
    flipped = _fmt(-value)
    frac = _latex_fraction(-Fraction(value), rng)
    return [
        flipped,
        f"${flipped}$",
        f"\\boxed{{{flipped}}}",
        f"${frac}$",
        f"\\boxed{{{frac}}}",
        f"$\\left({flipped}\\right)$",
    ]


def _hedge(g: str, value: Decimal, o1: str, o2: str, o3: str, rng: random.Random) -> list[str]:
    return [
        f"{g} or maybe {o1}",
        f"{g} (or {o1}, {o2}, {o3})",
        f"either {g} or {o1}",
        f"{o1} or {g}",
        f"probably {g}, but it could be {o1}",
        f"$\\boxed{{{g}}}$ or $\\boxed{{{o1}}}$",
        f"{g} or {o1}",
    ]


def _range(g: str, value: Decimal, o1: str, o2: str, o3: str, rng: random.Random) -> list[str]:
    return [
        f"between {g} and {o1}",
        f"{g}-{o1}",
        f"{g} to {o1}",
        f"[{g}, {o1}]",
        f"from {g} to {o1}",
        f"$[{g}, {o1}]$",
        f"{g}–{o1}",
        f"at least {g}",
    ]


def _enumeration(g: str, value: Decimal, o1: str, o2: str, o3: str, rng: random.Random) -> list[str]:
    return [
        f"{g}, {o1}, {o2}",
        f"{g} {o1} {o2} {o3}",
        f"$\\{{{g}, {o1}, {o2}\\}}$",
        f"{g}, {o1}, ..., {o3}",
        f"{o1}, {g}, {o2}",
        f"\\boxed{{{g}, {o1}}}",
        f"{g} and {o1}",
    ]


def _negation(g: str, value: Decimal, o1: str, o2: str, o3: str, rng: random.Random) -> list[str]:
    return [
        f"not {g}",
        f"not {g}, it is {o1}",
        f"definitely not {g}",
        f"anything but {g}",
        f"$\\neq {g}$",
        f"x \\neq {g}",
    ]


def _scale(g: str, value: Decimal, o1: str, o2: str, o3: str, rng: random.Random) -> list[str]:
    up, down = _fmt(value * 100), _fmt(value / 100)
    return [up, down, f"{down}%", f"{down}\\%", f"{g} thousand", f"{g} million", f"${up}$", f"\\boxed{{{down}}}"]


def _extra_terms(g: str, value: Decimal, o1: str, o2: str, o3: str, rng: random.Random) -> list[str]:
    k = rng.randint(2, 99)
    return [
        f"{g} + {k}",
        f"{g} - {k}",
        f"{g}+{k}",
        f"${g} + {k}$",
        f"\\boxed{{{g} + {k}}}",
        f"{k} + {g}",
        *([f"{g} \\cdot {k}"] if value != 0 else []),  # 0 times k is still 0
    ]


def _second_boxed(g: str, value: Decimal, o1: str, o2: str, o3: str, rng: random.Random) -> list[str]:
    return [
        f"\\boxed{{{g}}} \\boxed{{{o1}}}",
        f"\\boxed{{{o1}}} \\boxed{{{g}}}",
        f"\\boxed{{{g}}}, \\boxed{{{o1}}}",
        f"$\\boxed{{{o1}}}$ and $\\boxed{{{g}}}$",
        f"\\boxed{{{g}}} or \\boxed{{{o1}}}",
    ]


_FORMS = {
    "sign": _sign,
    "hedge": _hedge,
    "range": _range,
    "enumeration": _enumeration,
    "negation": _negation,
    "scale": _scale,
    "extra_terms": _extra_terms,
    "second_boxed": _second_boxed,
}
