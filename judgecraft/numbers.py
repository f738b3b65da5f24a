"""Plain numbers as people and models write them: 1,234.5, -3/4, \\frac{3}{4}, 50%, 1.2e3, twenty-four.

This is the fast path of answer checking. Every value is an exact `Fraction` (decimals included),
so float noise never decides a reward, and nothing is ever `eval`ed. Scanning is two-stage for
speed: one permissive regex whose first character is a plain character class (so the regex
engine skips ahead quickly), then a few Python checks on each candidate. Values are computed only
for the numbers that are actually used.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

_FRAC_AFTER_BACKSLASH = r"[dtc]?frac\s*\{\s*[-−]?[\d.]+\s*\}\s*\{\s*[\d.]+\s*\}"
_NUMBER_TAIL = r"(?:\s*/\s*\d+(?![\d.]))?(?:[eE][-+]?\d+|\s*\\times\s*10\^\{?-?\d+\}?)?(?:\s*(?:\\?%|[Pp]ercent\b))?"
_CANDIDATE_RE = re.compile(rf"[-−]?\\{_FRAC_AFTER_BACKSLASH}|[-−]?(?:\d[\d,]*(?:\.\d+)?|\.\d+){_NUMBER_TAIL}")
# _CANDIDATE_RE as the scan uses it: the same match at every position, written to open with one
# character class (what a candidate starts with), so that the regex engine skips ahead to the next
# possible start by itself (it cannot when a pattern opens with optional items) and one search
# finds each number. After that first character, a look-behind picks the branch it starts (one
# branch per first character, so their order changes nothing; the commonest, a digit, comes first).
_CANDIDATE_SCAN_RE = re.compile(
    rf"[-−\\.\d](?:(?<=\d)[\d,]*(?:\.\d+)?{_NUMBER_TAIL}"
    rf"|(?<=[-−])(?:\\{_FRAC_AFTER_BACKSLASH}|(?:\d[\d,]*(?:\.\d+)?|\.\d+){_NUMBER_TAIL})"
    rf"|(?<=\.)\d+{_NUMBER_TAIL}|(?<=\\){_FRAC_AFTER_BACKSLASH})"
)
_THOUSANDS_RE = re.compile(r"[-−]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")
_DECIMAL_COMMA_RE = re.compile(r"[-−]?\d+,\d+")  # "2,74" (a European decimal), when not thousands
_FRAC_RE = re.compile(r"(?P<sign>[-−]?)\\[dtc]?frac\s*\{\s*(?P<n>[-−]?[\d.]+)\s*\}\s*\{\s*(?P<d>[\d.]+)\s*\}")
_PERCENT_SUFFIX_RE = re.compile(r"\s*(?:\\?%|[Pp]ercent)$")
_TIMES_TEN_RE = re.compile(r"\s*\\times\s*10\^\{?(-?\d+)\}?")

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_AND_RE = re.compile(r"\s+and\s+")


_SURELY_READABLE_DIGITS = 640  # sys.set_int_max_str_digits accepts no limit below 640 (0 = none)


class Number(NamedTuple):
    """A number found in a text: its span, the text as written, and whether it was a percentage."""

    start: int
    end: int
    raw: str
    percent: bool
    words: bool = False  # written in words ("twenty-four")

    @property
    def value(self) -> Fraction | None:
        if self.words:
            return Fraction(words_to_int(self.raw))
        return token_value(self.raw)

    @property
    def has_value(self) -> bool:
        """`value is not None`, without building the Fraction for the common case: a token of plain
        ASCII digits always has one (int() reads it: 640 digits is below any digit limit Python
        allows), and so does a number in words."""
        raw = self.raw
        if self.words or (raw.isascii() and raw.isdigit() and len(raw) <= _SURELY_READABLE_DIGITS):
            return True
        if "/" in raw and raw.isascii():  # "5824 / 4": `token_value` divides the two integers, unless by zero
            num, _, den = raw.partition("/")
            num, den = num.strip(), den.strip()
            if num.isdigit() and den.isdigit() and max(len(num), len(den)) <= _SURELY_READABLE_DIGITS:
                return den.strip("0") != ""
        return self.value is not None


# Number(...) runs the NamedTuple's __new__, a Python function; the scans build the same tuples with
# tuple.__new__ (all five fields given), in C: a number found costs a third less.
_new = tuple.__new__


def numbers_in(text: str) -> list[Number]:
    """Every number in the text, in digits or in words, in order of position."""
    found = _digit_numbers(text)
    words = _word_numbers(lower_same_length(text))
    if words:
        found.extend(words)
        found.sort(key=lambda n: n.start)
    return found


def numbers_from(text: str, start: int) -> list[Number] | None:
    """`numbers_in(text)` from `start` on: the numbers that start there or after, the digits scanned only
    from there, when `start` is a cut (`is_cut`); else None. Number words are looked for in all the
    text: which words count depends on all of it."""
    if not is_cut(text, start):
        return None
    found = _digit_numbers(text, start)
    words = _word_numbers(lower_same_length(text))
    if words:
        found.extend(w for w in words if w.start >= start)
        found.sort(key=lambda n: n.start)
    return found


# What can follow white space inside a number the digit scan finds: '5 / 4', '5 \\times 10^3', '5 %',
# '5 percent', '\\frac { 1 } { 2 }' (the digits of a number never hold white space themselves).
_AFTER_SPACE_IN_NUMBER = frozenset("/\\%Pp{}-−.")


def is_cut(text: str, at: int) -> bool:
    """Whether no number the digit scan finds runs across `at`, and its tests of the characters before a
    number read the same from there: white space before, a character after that no number holds after
    white space (see `_AFTER_SPACE_IN_NUMBER`), so no number holds the white space."""
    if at == 0:
        return True
    if not 0 < at < len(text) or not text[at - 1].isspace():
        return False
    ch = text[at]
    return not (ch.isspace() or ch.isdecimal() or ch in _AFTER_SPACE_IN_NUMBER)


def may_start_number(lowered: str, at: int) -> bool:
    """Whether a number can start at lowered[at] (a text in lower case): a digit, a sign, a dot or
    a backslash (\\frac), or a number word. A cheap test before `numbers_in` of what follows."""
    return at < len(lowered) and (
        lowered[at] in "-−.\\" or lowered[at].isdigit() or lowered.startswith(_WORD_STARTS, at)
    )


def first_number(text: str) -> Number | None:
    """The first number of a short text, in digits or words."""
    found = numbers_in(text)
    return found[0] if found else None


def last_number(text: str) -> Number | None:
    """The last number with a value. Cheap on long texts: the last digit is found with str.rfind and
    only its neighbourhood is scanned; number words are only searched after it."""
    digit = _last_digit_number(text)
    after = digit.end if digit else 0
    words = _word_numbers(lower_same_length(text[after:]), last_only=True)
    if words:
        last = words[-1]
        return _new(Number, (last.start + after, last.end + after, last.raw, False, True))
    return digit


def _last_digit_number(text: str) -> Number | None:
    """The last number written in digits: find the last digit with str.rfind (C speed), scan only a
    small window around it, and step back window by window past digits that are not numbers (x2)."""
    high = len(text)
    while high > 0:
        last_digit = max(text.rfind(d, 0, high) for d in "0123456789")
        if last_digit < 0:
            return None
        low = max(0, last_digit - 64)
        while low > 0 and not text[low - 1].isspace() and last_digit - low < 256:
            low -= 1  # start the window between two tokens, never inside one
        candidates = _digit_numbers(text[low : last_digit + 32])
        for n in reversed(candidates):
            if n.has_value:
                return _new(Number, (n.start + low, n.end + low, n.raw, n.percent, False)) if low else n
        high = low
    return None


def _digit_numbers(text: str, position: int = 0) -> list[Number]:
    """The numbers in digits from `position` on (see `numbers_from` for when that is a part of the whole scan)."""
    found: list[Number] = []
    search = _CANDIDATE_SCAN_RE.search  # the leftmost match of _CANDIDATE_RE from `position`
    while (m := search(text, position)) is not None:
        start = m.start()
        raw = m.group(0)
        position = m.end()
        before = text[start - 1] if start else " "
        if raw[0] == "." and (before.isdigit() or before == "."):
            position = start + 1  # "...24" or "1.2.3": look again just after this dot
            continue
        if before.isalnum() or before == "_" or (before == "." and start >= 2 and text[start - 2].isdigit()):
            continue  # the tail of a word (x2) or the part after a second dot (1.2.3)
        if "," not in raw:  # most numbers: the two comma rules below do not apply
            found.append(_new(Number, (start, position, raw, raw.endswith(("%", "ercent")), False)))
            continue
        if not _THOUSANDS_RE.fullmatch(raw.rstrip("%").rstrip()) and _DECIMAL_COMMA_RE.fullmatch(raw):
            after = text[position : position + 1]
            if not after.isdigit() and after != ",":
                found.append(_new(Number, (start, position, raw, False, False)))  # one comma, no space: a decimal comma
                continue
        if "," in raw and not _THOUSANDS_RE.match(raw):
            offset = 0  # "1,2,3" is a list, not one number
            for piece in raw.split(","):
                if piece and piece.lstrip("-−")[:1].isdigit():
                    found.append(_new(Number, (start + offset, start + offset + len(piece), piece, False, False)))
                offset += len(piece) + 1
            continue
        found.append(_new(Number, (start, position, raw, raw.endswith(("%", "ercent")), False)))
    return found


def lower_same_length(text: str) -> str:
    """text.lower(), except that the few characters whose lower case is longer are kept, so positions match."""
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)
    return lowered


NUMBER_WORDS = frozenset([*_UNITS, *_TENS, *_SCALES])
_WORD_STARTS = tuple(NUMBER_WORDS)


@lru_cache(maxsize=1024)
def _words_pattern(present: frozenset[str]) -> re.Pattern[str]:
    """A number-word pattern over only the number words a text contains: few first letters, fast scanning."""
    word = "|".join(sorted(present, key=len, reverse=True))
    return re.compile(rf"(?:{word})(?:[\s-]+(?:and\s+)?(?:{word}))*")


def _word_numbers(lowered: str, last_only: bool = False) -> list[Number]:
    present = NUMBER_WORDS.intersection(lowered.replace("-", " ").split())
    if not present:
        return []
    whole = []
    size = len(lowered)
    for m in _words_pattern(present).finditer(lowered):
        start, end = m.span()
        if (start and (lowered[start - 1].isalnum() or lowered[start - 1] in "-_")) or (
            end < size and (lowered[end].isalnum() or lowered[end] == "_")
        ):
            continue  # "someone", "often", "tone"
        whole.append(m)
    out = []
    for m in whole[-1:] if last_only else whole:
        phrase, start = m.group(0), m.start()
        out.extend(_new(Number, (start + a, start + b, phrase[a:b], False, True)) for a, b in _split_and(phrase))
    return out


def _split_and(phrase: str) -> list[tuple[int, int]]:
    """Split 'twenty-four and five' into two numbers, but keep 'one hundred and five' whole."""
    if " and " not in phrase:
        return [(0, len(phrase))]
    spans, start = [], 0
    for m in _AND_RE.finditer(phrase):
        last_word = phrase[start : m.start()].replace("-", " ").split()[-1]
        if last_word not in _SCALES:
            spans.append((start, m.start()))
            start = m.end()
    spans.append((start, len(phrase)))
    return spans


def token_value(raw: str) -> Fraction | None:
    """The exact value of one numeric token (digits, fraction, \\frac, scientific, percent sign kept off)."""
    s = raw.strip().replace("−", "-").replace("{,}", "")
    if s.isdigit():  # most tokens: plain digits, where every rule of `_general_value` is a no-op
        try:
            return Fraction(int(s))
        except ValueError:  # digits int() cannot read ("²", or more than 4300 of them)
            return None
    num, slash, den = s.partition("/")
    num, den = num.strip(), den.strip()
    if slash and num.isascii() and num.isdigit() and den.isascii() and den.isdigit():
        # "5824 / 4": `_general_value` splits at the slash and reads each side with Fraction(str)
        # (a regex parse each); int() reads plain ASCII digits to the same values.
        try:
            whole = int(den)
            return Fraction(int(num), whole) if whole else None
        except ValueError:  # more than 4300 digits, which Fraction(str) refuses the same way
            return None
    return _general_value(s)


def _general_value(s: str) -> Fraction | None:
    """`token_value` of a cleaned token, by every rule in turn (fractions, percent, exponents, commas)."""
    try:
        frac = _FRAC_RE.fullmatch(s)
        if frac:
            den = Fraction(frac.group("d"))
            if den == 0:
                return None
            value = Fraction(frac.group("n").replace("−", "-")) / den
            return -value if frac.group("sign") else value
        s = _PERCENT_SUFFIX_RE.sub("", s)
        exponent = 0
        times = _TIMES_TEN_RE.search(s)
        if times:
            exponent, s = int(times.group(1)), s[: times.start()]
        elif "e" in s.lower():
            s, _, exp = s.lower().partition("e")
            exponent = int(exp)
        if abs(exponent) > 400:
            return None  # 1e100000 is not an answer, and Fraction would build a huge integer
        if "/" in s:
            num, den = s.split("/")
            if Fraction(den.strip()) == 0:
                return None
            value = Fraction(num.strip().replace(",", "")) / Fraction(den.strip())
        elif _DECIMAL_COMMA_RE.fullmatch(s) and not _THOUSANDS_RE.fullmatch(s):
            value = Fraction(s.replace(",", "."))
        else:
            s = s.replace(",", "")
            value = Fraction(int(s)) if s.isdigit() else Fraction(s)
        return value * Fraction(10) ** exponent if exponent else value
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


def to_fraction(text: str) -> Fraction | None:
    """The value of a text that is exactly one number (digits or words); None otherwise."""
    s = text.strip()
    found = numbers_in(s)
    if len(found) != 1 or found[0].start != 0 or found[0].end != len(s):
        return None
    return found[0].value


def words_to_int(phrase: str) -> int:
    """'twenty-four' -> 24, 'one hundred and five' -> 105, 'two thousand three' -> 2003."""
    total, current = 0, 0
    for word in phrase.lower().replace("-", " ").split():
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word in _SCALES:
            total += max(current, 1) * _SCALES[word]
            current = 0
    return total + current


_BILLIONTH = Fraction(1, 10**9)


def close_enough(a: Fraction, b: Fraction, rel: Fraction = _BILLIONTH) -> bool:
    """Exact equality, or a relative difference below one part in a billion (rounded decimals)."""
    if rel is _BILLIONTH and type(a) is Fraction and type(b) is Fraction and a.denominator == b.denominator == 1:
        # Whole numbers, most answers: the same test on their integers (Fraction arithmetic is slow).
        m, n = a.numerator, b.numerator
        return m == n or abs(m - n) * 10**9 <= max(abs(m), abs(n), 1)
    if a == b:
        return True
    scale = max(abs(a), abs(b), Fraction(1))
    return abs(a - b) <= rel * scale
