"""What an answer span says: one number, several candidates, an expression, a choice, or words.

An answer span is read whole. It is a plain number only when the whole span is one (with a sign,
digit groups, a mixed number, a percent sign, a currency or unit words around it); a span that
offers several distinct candidates (a hedge "24 or maybe 25", a range "24-30", an enumeration,
a negation "not 24", a set "{1, 2}", a plus-minus) says so in `hedge`, and the commitment policy
(judgecraft.answer) decides what that is worth. Everything else is an expression for math-verify,
never decided by one number picked out of it. All patterns here are linear: character classes
without nested repetition, bounded brace groups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from judgecraft.numbers import NUMBER_WORDS, numbers_in, to_fraction

MAX_SPAN_CHARS = 4000  # a span is read in time linear in its length, and never longer than this
_SCALE_WORDS = {"hundred": 100, "thousand": 1_000, "million": 10**6, "billion": 10**9, "trillion": 10**12}
# Words that chain numbers into several candidates, and what kind of hedge each makes.
_RANGE_WORDS = frozenset(
    {"to", "through", "thru", "between", "from", "till", "until", "range", "least", "most", "more", "less", "than"}
    | {"greater", "fewer", "over", "under", "above", "below", "up", "minimum", "maximum", "exceeds", "exceed"}
)
_HEDGE_WORDS = frozenset(
    {"or", "maybe", "perhaps", "possibly", "probably", "either", "alternatively", "might", "could", "be", "also"}
)
_LIST_WORDS = frozenset({"and", "then", "etc"})
_NEGATION_WORDS = frozenset({"not", "isn't", "isnt", "never", "no", "nor", "neither", "n't", "but", "except"})
_NOT_A_UNIT = _NEGATION_WORDS | _HEDGE_WORDS | NUMBER_WORDS | {*_SCALE_WORDS, "percent", "percentage", "pct"}
_NEUTRAL_WORDS = frozenset({"at", "anything", "definitely", "certainly", "surely", "clearly", "than", "the", "a"})
_RELATION_RE = re.compile(r"\\(?:neq?|[lg]eq?q?|[lg]t|not\s*=)(?![a-zA-Z])|[<>≤≥≠]|!=")
_FILLER_PUNCT = frozenset(",;()[]{}~&?")
_NO_SOLUTION_RE = re.compile(
    r"(?:there (?:is|are|exists?) |it has |the equation has |has )?no (?:real |such |integer )?(?:solutions?|roots?)"
    r"(?: exists?)?"
)

_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname|emph)\s*\{([^{}]*)\}")
_DROP_RE = re.compile(r"\\(?:left|right|displaystyle|big|Big|bigg|Bigg)(?![a-zA-Z])|\\!|\$|\\\(|\\\)|\\\[|\\\]")
_SPACING_RE = re.compile(r"\\(?:,|;|:| |quad|qquad|thinspace)|~|\u2009|\u202f|\u00a0")
_COMMA_GROUP_RE = re.compile(r"(?<=\d)\s?(?:\{\s?,\s?\}|,\\!)\s?(?=\d{3}(?!\d))")
_THIN_GROUP_RE = re.compile(r"(?<=\d)(?:\\,|\{,\}|\\ |\\;|\\:|\\thinspace|~|\u2009|\u202f|\u00a0)(?=\d{3}(?!\d))")
_SPACE_GROUPS_RE = re.compile(r"(?<![\d.,])\d{1,3}(?: \d{3})+(?![\d,]|\.\d)")
_DEGREE_RE = re.compile(r"\^\s*(?:\{\s*)?\\circ\s*\}?|°|\\degree")
_FRAC_VARIANT_RE = re.compile(r"\\[dtc]frac")
# (?<!\d): a digit run is tried from its start only; from each of its digits, a long run costs n^2
_MIXED_RE = re.compile(
    r"([-+−]?)(?<!\d)(\d+) ?(?:\\frac\s*\{(\d+)\}\s*\{(\d+)\}| (\d+)/(\d+)) ?(%|percent|percentage|pct)?"
)
_SCALE_AFTER_RE = re.compile(r"(?<=\d)\s+(hundred|thousand|million|billion|trillion)\b")
_ASSIGN_ALL_RE = re.compile(r"(?<![\w\\])[a-zA-Z]{1,3}(?:_\{?\w{1,4}\}?)?\s*=\s*")
_CHOICE_RE = re.compile(r"\(?([A-E])\)(?:\s+|$)|([A-E])(?:[.:]\s+|\s*$)|\(([a-e])\)(?:\s+|$)")
_PLUS_MINUS_RE = re.compile(r"\\pm|\\mp|±|∓|\+/-|\+-")
_MATH_RE = re.compile(r"[\\^=<>*/+()\[\]{}|]|\d\s*[-−·×÷]\s*[\d(]|\d\s*[a-zA-Z]\b|(?<![a-zA-Z])[a-zA-Z](?![a-zA-Z])")
_RANGE_MARK_RE = re.compile(r"(?<=\d)\s*[–—]\s*(?=[-−]?\d)|(?<=\d)-(?=\d)")
_NAME_RE = re.compile(r"\s*(?:[a-zA-Z]{1,3}|\\[a-zA-Z]+)(?:_\{?\w{1,8}\}?)?(?:\([a-z]\))?\s*")
_VARIABLE_RE = re.compile(r"[a-zA-Z]")
_COMMAND_RE = re.compile(r"\\[a-zA-Z]+")
_WORD_JOIN_RE = re.compile(r"\b(?:or|and)\b")
_LINE_BREAK_RE = re.compile(r"(?<=\d)[ \t]*\r?\n\s*(?=[-\d])")
_ELLIPSIS_RE = re.compile(r"\.\.\.|…|\\[lc]?dots")
_LATEX_LIST_RE = re.compile(r"(?<!\d)\d+(?:,\d+)+")
_WORD_RE = re.compile(r"[a-z']+|\.\.\.|\\[lc]?dots|[^\sa-z#]")
# The commonest answer span, "1456" or "1456 hives": every rule of `_read_whole` but the number's
# own is a no-op on it, unless the word is a negation, a hedge, a number, a scale or a percent.
_PLAIN_NUMBER_RE = re.compile(r"([0-9]{1,600})(?: ([A-Za-z]{1,40}))?")
_SPLIT_RE = re.compile(r",|;|\\text\s*\{\s*(?:or|and)\s*\}|\bor\b|\band\b")


@dataclass(frozen=True, slots=True)
class Shape:
    """A span read whole. `values` is set only when the span is plain numbers and nothing else."""

    kind: str  # number | list | set | expr | choice | text | empty
    text: str = ""  # the span cleaned of delimiters and styling (what math-verify is given)
    values: tuple[Fraction, ...] | None = None
    percent: bool = False
    hedge: str = ""  # why the span offers several candidates: "range", "hedge", "negation", ...
    choice: str = ""  # a multiple-choice letter, when the span is one (with its option text in `text`)

    @property
    def single(self) -> Fraction | None:
        return self.values[0] if self.values is not None and len(self.values) == 1 else None


class ReadsShape:
    """For objects holding a `shape`: its values and percent flag read through them (Gold, Extracted)."""

    __slots__ = ()
    shape: Shape

    @property
    def values(self) -> tuple[Fraction, ...] | None:
        return self.shape.values

    @property
    def percent(self) -> bool:
        return self.shape.percent


def clean(span: str) -> str:
    """The span without math delimiters, styling, thin spaces inside digit groups and degree signs."""
    s = span.strip()
    if "\\" in s or "$" in s or "{" in s or "°" in s or "~" in s:
        s = _COMMA_GROUP_RE.sub(",", s)  # 14{,}916, 14 {, }916, 11,\! 111
        s = _THIN_GROUP_RE.sub("", s)
        s = _TEXT_CMD_RE.sub(r" \1 ", _TEXT_CMD_RE.sub(r" \1 ", s))  # two levels of nesting at most
        s = _DROP_RE.sub(" ", s)
        s = _DEGREE_RE.sub("", s)
        s = _FRAC_VARIANT_RE.sub(r"\\frac", s)
        s = s.replace("\\%", "%").replace("\\$", " ")
        s = _SPACING_RE.sub(" ", s)
    if "\n" in s:
        s = _LINE_BREAK_RE.sub(" ; ", s)  # "11\n5/6" is two numbers, never a mixed number
    s = " ".join(s.split())
    s = _SPACE_GROUPS_RE.sub(lambda m: m.group(0).replace(" ", ""), s)
    s = s.strip(" ,:;!*")
    return s.rstrip(".")  # a leading ".4" stays


def read_span(span: str, latex: bool | None = None) -> Shape:
    """Read a whole answer span (see the module docstring). `latex`: the span is a formula (boxed, in $).

    The last few reads are kept (a Shape is immutable): within one completion the same span is
    read again and again (each persona's answer when the number chain around it is tried, when it
    is made an Extracted, when it is compared), and a group of completions shares one gold answer.
    A few dozen entries: nothing is kept from one batch of completions to the next.
    """
    return _read_span(span, latex)  # positional: read_span(s) and read_span(s, latex=None) share an entry


@lru_cache(maxsize=64)
def _read_span(span: str, latex: bool | None) -> Shape:
    plain = _PLAIN_NUMBER_RE.fullmatch(span)
    if plain is not None and (plain.group(2) is None or plain.group(2).lower() not in _NOT_A_UNIT):
        return Shape("number", span, (Fraction(int(plain.group(1))),))  # what `_read_whole` finds for it
    return _read_whole(span, latex)


def _read_whole(span: str, latex: bool | None) -> Shape:
    """`read_span` by every rule in turn."""
    raw = span.strip()
    if len(raw) > MAX_SPAN_CHARS:
        return Shape("expr", raw)  # not read: no answer is this long, and the bomb check refuses it
    s = clean(raw)
    if not s:
        return Shape("empty")
    if latex is None:
        latex = "\\" in raw or raw.count("$") - raw.count("\\$") >= 2
    lowered = s.lower()
    if _NO_SOLUTION_RE.fullmatch(lowered) or lowered in {"none", "∅", "\\emptyset", "\\varnothing", "\\{\\}"}:
        return Shape("text", "no solution")
    if _PLUS_MINUS_RE.search(s):
        return Shape("expr", s, hedge="plus-minus: two values")
    if _RELATION_RE.search(s):
        return Shape("expr", s, hedge="a relation, not a value")
    if _ELLIPSIS_RE.search(raw) and _SPLIT_RE.search(s):
        return Shape("expr", s, hedge="an open-ended enumeration")
    choice = _read_choice(s)
    if choice is not None:
        return choice
    if latex and "," in s:  # in a formula, "1,2" lists two numbers (thousands "1,234" stay whole)
        s = _LATEX_LIST_RE.sub(lambda m: m.group(0) if _is_thousands(m.group(0)) else m.group(0).replace(",", ", "), s)
    number = read_number(s)
    if number is not None:
        return number
    listed = _read_list(s, plain=not latex)
    if listed is not None:
        return listed
    if _MATH_RE.search(s):
        return Shape("expr", s)
    return Shape("text", s)


def _is_thousands(token: str) -> bool:
    groups = token.split(",")
    return 1 <= len(groups[0]) <= 3 and groups[0][0] != "0" and all(len(g) == 3 for g in groups[1:])


def top_level_parts(s: str) -> list[str]:
    """The pieces of `s` split at commas and semicolons outside any bracket (one linear pass)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch in ",;" and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return [p.strip() for p in parts if p.strip()]


def _one_group(s: str) -> bool:
    """Whether `s` is one bracket group: its first bracket closes at its last character."""
    depth = 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i == len(s) - 1
    return False


def read_number(s: str) -> Shape | None:
    """One plain number, whole: '-\\frac{10}{9}', '1\\frac12', '$1,200', '24 hives', '50%', 'x = 5', '24 thousand'."""
    if "=" in s:  # the last side of one equation: "k = \\frac{1}{3}" (never of a list "p=5, q=2")
        if "<" in s or ">" in s or len(top_level_parts(s)) > 1 or _WORD_JOIN_RE.search(s):
            return None
        lhs = s.rsplit("=", 1)[0]
        if not _NAME_RE.fullmatch(lhs) and _VARIABLE_RE.search(_COMMAND_RE.sub(" ", lhs)):
            return None  # "a + 3z = 0" is an equation, not the number 0
        inner = read_number(s.rsplit("=", 1)[1])
        return Shape("number", s, inner.values, inner.percent) if inner is not None else None
    body = s
    body = body.strip(" $€£¥")
    scale = 1
    scaled = _SCALE_AFTER_RE.search(body)
    if scaled:  # "24 thousand" is 24000, never 24
        scale, body = _SCALE_WORDS[scaled.group(1)], body[: scaled.start()] + body[scaled.end() :]
    mixed = _MIXED_RE.fullmatch(body)
    if mixed:
        sign, whole, n1, d1, n2, d2, pct = mixed.groups()
        num, den = int(n1 or n2), int(d1 or d2)
        if not 0 <= num < den:
            return None  # "11 7/6" is not a mixed number
        value = int(whole) + Fraction(num, den)
        return Shape("number", s, (-value if sign in "-−" and sign else value,), bool(pct))
    found = numbers_in(body)
    if len(found) != 1 or (found[0].words and found[0].start != 0):
        return None
    number = found[0]
    before, after = body[: number.start].strip(), body[number.end :].strip().lower()
    value = None if before else number.value  # built once: a Fraction from text is not cheap
    if value is None:
        return None
    words = after.split()
    percent = number.percent
    if words and words[0] in {"%", "percent", "percentage", "pct"}:
        percent, words = True, words[1:]
    if len(words) > 3 or any(not w.isalpha() or w in _NEGATION_WORDS or w in _HEDGE_WORDS for w in words):
        return None  # more than a unit after the number
    return Shape("number", s, (value * scale if scale != 1 else value,), percent)


def _read_choice(s: str) -> Shape | None:
    m = _CHOICE_RE.match(s)
    if m is None:
        return None
    letter = (m.group(1) or m.group(2) or m.group(3)).upper()
    option = s[m.end() :].strip()
    if not option:
        return Shape("choice", letter, choice=letter)
    inner = read_number(option)
    values = inner.values if inner is not None else None
    return Shape("choice", option, values, inner.percent if inner else False, choice=letter)


def _read_list(s: str, plain: bool) -> Shape | None:
    """Several numbers chained by commas, 'or', ranges or hedges, and nothing else; or a set of numbers."""
    braced = s.startswith(("\\{", "{")) and s.endswith(("\\}", "}"))
    bracketed = s[:1] in "([" and s[-1:] in ")]" and _one_group(s)
    if braced or bracketed:
        inner = s[2:-2] if s.startswith("\\{") else s[1:-1]
        if not _SPLIT_RE.search(inner):
            return None
        if not braced:  # a tuple or an interval: math-verify reads it, but it is never one number
            return Shape("expr", s, hedge="a tuple or interval, not one value")
        values = [to_fraction(p) for p in _SPLIT_RE.split(inner)]
        if all(v is not None for v in values):
            return Shape("set", s, tuple(values), hedge="a set of several values" if len(set(values)) > 1 else "")
        return Shape("expr", s, hedge="a set of several values")
    if plain:
        s = _RANGE_MARK_RE.sub(" to ", s)
    if "=" in s:
        names = {m.group(0).split("=")[0].strip() for m in _ASSIGN_ALL_RE.finditer(s)}
        if len(names) > 1:
            return None  # "p=5, q=2": a tuple of named values, for math-verify
        s = _ASSIGN_ALL_RE.sub("", s)  # "x = 2 or x = 3"
    found = numbers_in(s)
    skeleton = _skeleton(s, found) if found else None
    if skeleton is None:
        return None
    hedge = _hedge_kind(skeleton)
    if len(found) == 1:  # "not 24", "at least 24": a negation or a bound, never the value
        return Shape("text", s, hedge=hedge) if hedge in ("negation", "range") else None
    values = tuple(n.value for n in found)
    if any(v is None for v in values):
        return None
    if len(set(values)) == 1 and hedge != "negation":
        return Shape("number", s, (values[0],), found[0].percent)
    return Shape("list", s, values, any(n.percent for n in found), hedge=hedge)


def _skeleton(s: str, found: list) -> list[str] | None:
    """The words between the numbers, if they are only connectives and units (else None)."""
    parts, last = [], 0
    for number in found:
        parts.append(s[last : number.start])
        parts.append("#")
        last = number.end
    parts.append(s[last:])
    tokens = _WORD_RE.findall(" ".join(parts).lower().replace("\\{", "{").replace("\\}", "}"))
    allowed = (
        _RANGE_WORDS | _HEDGE_WORDS | _LIST_WORDS | _NEGATION_WORDS | _NEUTRAL_WORDS | {"#", "...", "…", "is", "it"}
    )
    units = 0
    previous = ""
    depth, hedged_at = 0, set()
    for token in tokens:
        if token in "([{":
            depth += 1
        elif token in ")]}":
            hedged_at.discard(depth)
            depth = max(0, depth - 1)
        elif depth and token in _HEDGE_WORDS:
            hedged_at.add(depth)
        elif depth and token == "," and depth not in hedged_at:
            return None  # "(1, 2), (3, 4)": tuples, for math-verify
        if token in allowed or token in _FILLER_PUNCT or (token.startswith("\\") and token.endswith("dots")):
            pass
        elif previous == "#" and token.isalpha() and units < len(found):
            units += 1  # "24 hives or 25 hives"
        else:
            return None
        previous = token
    return tokens


def _hedge_kind(tokens: list[str]) -> str:
    words = set(tokens)
    if words & _NEGATION_WORDS:
        return "negation"
    if words & _RANGE_WORDS:
        return "range"
    if words & _HEDGE_WORDS:
        return "hedge"
    return "enumeration"
