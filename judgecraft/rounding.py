"""`round(x, digits)` for the values the scores report, without round()'s decimal string.

round(x, digits) on a float writes x's decimal digits (dtoa) and reads them back (strtod): about
2,000 instructions, and the score components round a few numbers for every completion.
"""

from __future__ import annotations

_SCALES = tuple(10.0**digits for digits in range(16))  # exact: 10**15 < 2**53
_LARGEST = 1e12  # x * 10**digits below this: the product is off by far less than 0.01 (see round_digits)


def round_digits(x: float, digits: int) -> float:
    """Exactly `round(x, digits)` for a float x (0 <= digits <= 15), a few times faster for
    0 < x * 10**digits < 1e12.

    round() rounds the exact value t = x * 10**digits to the nearest integer k (ties to even) and
    returns the double nearest k / 10**digits. The float product y = fl(t) is within t * 2**-53 < 0.01
    of t, so when y is more than 0.01 from a tie (|y - round(y)| < 0.49), round(y) is that k; and
    k / 10**digits, both exact doubles (k < 2**53), is the IEEE quotient: the double nearest k / 10**digits.
    Ties, zero (whose sign round() keeps), negative numbers, NaN and the rest take round() itself.
    """
    scale = _SCALES[digits]
    scaled = x * scale
    if 0.0 < scaled < _LARGEST:
        k = round(scaled)
        if -0.49 < scaled - k < 0.49:
            return k / scale
    return round(x, digits)
