"""`rounding.round_digits` is round(x, digits), bit for bit, sign of zero included."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from judgecraft.rounding import round_digits


def _same(a: float, b: float) -> bool:
    return (a == b and math.copysign(1.0, a) == math.copysign(1.0, b)) or (a != a and b != b)


@settings(max_examples=3000, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.integers(0, 15))
def test_any_float(x, digits):
    assert _same(round_digits(x, digits), round(x, digits))


@settings(max_examples=3000, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 10**6), st.integers(0, 15))
def test_ratios_like_the_scores_report(a, b, digits):
    x = a / b
    assert _same(round_digits(x, digits), round(x, digits))


def test_ties_and_their_neighbours():
    """Halfway cases (exact in binary or not) and the doubles either side of them."""
    checked = 0
    for digits in range(16):
        for k in range(0, 3000, 7):
            for x in ((k + 0.5) / 10**digits, (2 * k + 1) / 2**12):
                for y in (x, math.nextafter(x, 0.0), math.nextafter(x, 2.0)):
                    assert _same(round_digits(y, digits), round(y, digits)), (y, digits)
                    checked += 1
    assert checked > 10_000


def test_edges():
    for x in (0.0, -0.0, 5e-324, -1e-9, 1.0, 1e12, 1e300, math.inf, -math.inf, math.nan):
        for digits in (0, 4, 6, 10, 15):
            assert _same(round_digits(x, digits), round(x, digits))
