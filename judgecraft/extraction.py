"""Where the answer is in a text, kept whole: the span, then what it says (judgecraft.spans).

Evidence, strongest first: the last \\boxed{} (with the boxes listed right before it, and a note of
any other, different boxed answer), an "answer is / answer: / final answer is" phrase, roots listed
at the end ("x = 3 or x = 2"), a short text that is only the answer, the concluding sentence, then
the last expression or number. Only the tail of a long text is searched, and every scan is linear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from judgecraft.numbers import NUMBER_WORDS, is_cut, last_number, lower_same_length, numbers_from, numbers_in
from judgecraft.spans import ReadsShape, Shape, clean, read_span

TAIL_CHARS = 4000  # answers sit at the end: only the tail of a long trace is searched
SEGMENT_CHARS = 300
MAX_BOXES = 8  # boxed answers looked at, from the end
BOX_CHARS = 2000  # a brace group longer than this is not an answer

_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_PHRASE_WORDS = ("final answer", "answer", "result")  # what every match of _PHRASE_RE starts with
_PHRASE_RE = re.compile(
    r"(?:final answer|answer|result)\**\s*"
    r"(?:(?:(?:is|of|would be|will be|should be|equals)\b|[:=])\s*:?\**\s*|(?=[$\\\d(-]))"
)
_CONCLUSION_WORDS = (
    "thus",
    "therefore",
    "hence",
    "so",
    "in conclusion",
    "in total",
    "in the end",
    "altogether",
    "overall",
)
_CONCLUSION_RE = re.compile(rf"(?:{'|'.join(_CONCLUSION_WORDS)})\b")
RESULT_RE = re.compile(r"(?:=|equals?\b|is\b|are\b|gives(?: us)?\b|makes\b|comes to\b|totals?\b|yields?\b|get\b)\s*")
_GAP_RESULT_RE = re.compile(r"(?:=|\bequals?\b|\bis\b|\bare\b|\bgives\b|\bmakes\b|\bcomes to\b|\byields?\b)")
_MARKUP_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9_-]{1,30}>")
_SENTENCE_END_RE = re.compile(r"[.!?](?=\s|$)|\n")
_DISPLAY_OPENERS = (("$$", "$$"), ("\\[", "\\]"))
_INLINE_OPENERS = (("$", "$"), ("\\(", "\\)"))
_OPENERS = (*_DISPLAY_OPENERS, *_INLINE_OPENERS)  # each starts with "$" or a backslash
_LATEX_ENV_RE = re.compile(
    r"\$\$[^$]{1,1000}\$\$|\$[^$\n]{1,500}\$|\\\((?:[^\\\n]|\\(?!\))){1,500}\\\)|\\\[[^\]]{1,1000}\\\]"
)
_NUM = r"-?\d+(?:\.\d+)?(?:/\d+)?"
_ROOTS_RE = re.compile(rf"\b([a-z])\s*=\s*{_NUM}(?:\s*(?:,|\bor\b|\band\b)\s*(?:\1\s*=\s*)?{_NUM})+")
_LIST_GAP_RE = re.compile(r"(?:\s|\$|,|;|&|and\b|or\b|\\quad|\\qquad|\\[,;]|\\[()\[\]]|\\text\s*\{[^{}]{0,40}\}|\\)*")
_PERCENT_AFTER_RE = re.compile(r"\s*(?:\$\s*)?(?:\\?%|percent(?:age)?\b|pct\b)")
_ARITHMETIC_LEFT_RE = re.compile(r"(?:\(?\d[\d.]*\)?(?:[ \t]*[+*/^×÷·][ \t]*|[ \t]+[-−][ \t]+))+$")
_ARITHMETIC_RIGHT_RE = re.compile(r"(?:(?:[ \t]*[+*/^×÷·][ \t]*|[ \t]+[-−][ \t]+)\(?\d[\d.]*\)?)+")
_LEADING_NOISE_RE = re.compile(r"^(?:\s|\*|:|\\?[\"'`])*")
_NOISE_STARTS = "*:\"'`\\"  # with white space, what a match of `_LEADING_NOISE_RE` can start with
# (?<!\s): a run of white space is tried once, from its start, not from each of its characters
_TAIL_NOISE_RE = re.compile(r"(?<!\s)\s*(?:I hope it is correct\.?)\s*$", re.IGNORECASE)
_LEAD_RE = re.compile(
    r"(?:\b(?:not|never|isn't|between|either|from|maybe|perhaps|possibly|probably|but|except|at least|at most"
    r"|(?:no )?(?:more|less|greater|fewer) than|up to|over|under|above|below)\s+|(?:\\neq?|\\[lg]eq?|[<>≤≥≠]=?)\s*)$",
    re.IGNORECASE,
)
# What the text before a number must end with for `_ARITHMETIC_LEFT_RE` or `_LEAD_RE` to match there:
# each search tries every position of its window (tens of microseconds), most numbers pass neither.
_OPERATOR_CHARS = "+*/^×÷·-−"
_LEAD_ENDINGS = (
    *("not", "never", "isn't", "between", "either", "from", "maybe", "perhaps", "possibly", "probably", "but"),
    *("except", "least", "most", "than", "to", "over", "under", "above", "below", "\\ne", "\\neq", "\\le"),
    *("\\leq", "\\ge", "\\geq", "<", ">", "≤", "≥", "≠", "<=", ">=", "≤=", "≥=", "≠="),
)
# A sentence of words of two or more ASCII letters, nothing else: no number, formula, relation,
# ellipsis or choice letter for `read_span` to find (separators are never empty: linear matching).
_WORDS_ONLY_RE = re.compile(r"[ \t,;]*(?:[A-Za-z]{2,}(?:[ \t,;]+[A-Za-z]{2,})*[ \t,;]*)?")
_LETTERS_RE = re.compile(r"[a-z]+")
MAX_CHAIN = 8  # neighbours looked at on each side of a number: enough to see a hedge, never quadratic
_BARE_WORDS = 4  # a short text with at most this many words outside LaTeX is taken whole


@dataclass(frozen=True, slots=True)
class Extracted(ReadsShape):
    """The answer a text gives: the span as written, how it was found, and what it says."""

    segment: str
    how: str  # boxed | phrase | roots | whole | conclusion | expression | last_number | none
    shape: Shape = field(default_factory=lambda: Shape("empty"))
    others: tuple[str, ...] = ()  # other, different boxed answers in the same text

    @property
    def found(self) -> bool:
        return self.how != "none"

    @property
    def hedge(self) -> str:
        if self.others:
            return f"several different boxed answers ({', '.join(o[:20] for o in self.others)})"
        return self.shape.hedge


def _make(segment: str, how: str, others: tuple[str, ...] = ()) -> Extracted:
    segment = segment.strip()
    if "correct" in segment.lower():  # the only words `_TAIL_NOISE_RE` removes end with it (any case)
        segment = _TAIL_NOISE_RE.sub("", segment)
    segment = segment.strip(" \"'`").removesuffix("\\").strip()
    return Extracted(segment, how, read_span(segment, latex=True if how == "boxed" else None), others)


def balanced(text: str, open_at: int) -> tuple[str, int] | None:
    """Content of the brace group that opens at text[open_at], and the index just after it."""
    depth = 0
    for i in range(open_at, min(len(text), open_at + BOX_CHARS)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i], i + 1
    return None


def extract_answer(text: object) -> Extracted:
    """Find the answer a text gives (see the module docstring for the order of evidence)."""
    if not isinstance(text, str):
        try:
            text = text.decode("utf-8", "replace") if isinstance(text, bytes) else ("" if text is None else str(text))
        except (ValueError, TypeError, OverflowError, RecursionError):  # str(10**5000) raises in Python 3.11
            return Extracted("", "none")
    if not text.strip():
        return Extracted("", "none")
    # Markup around an answer ("<answer>22</answer>", "</think>") is not part of it: a tag-shaped
    # word of two or more letters becomes a line break ("x < 3" and "a<b" are left alone).
    tail = text[-TAIL_CHARS:]
    if "<" in tail:  # every tag starts with it: most texts need no regex pass
        tail = _MARKUP_TAG_RE.sub("\n", tail)
    boxed = _boxed(tail)
    if boxed is not None:
        stated = _phrase(tail[boxed_end(tail) :])  # "\boxed{200} ... The final answer is $10,455$."
        return stated if stated is not None and not stated.segment.startswith(("\\boxed", "$\\boxed")) else boxed
    found = _hashes(tail)
    if found is None:
        lowered = lower_same_length(tail)  # lowered once for the phrase and the conclusion finders
        found = (
            _phrase(tail, lowered)
            or _roots(tail)
            or _whole(tail)
            or _conclusion(tail, lowered)
            or _last_expression(tail)
        )  # the first finder that finds an answer (an Extracted is never false)
    return found if found is not None else Extracted("", "none")


def boxed_end(tail: str) -> int:
    """Where the last boxed answer ends (0 when there is none)."""
    at = max(tail.rfind("\\boxed"), tail.rfind("\\fbox"))
    m = _BOXED_RE.match(tail, at) if at >= 0 else None
    if m is None:
        return 0
    got = balanced(tail, m.end() - 1)
    return got[1] if got else 0


def _boxed(tail: str) -> Extracted | None:
    if "boxed" not in tail and "fbox" not in tail:
        return None
    boxes = []
    for m in list(_BOXED_RE.finditer(tail))[-MAX_BOXES:]:
        got = balanced(tail, m.end() - 1)
        if got is not None and got[0].strip():
            boxes.append((m.start(), got[1], got[0]))
    if not boxes:
        return None
    start, end, content = boxes[-1]
    parts = [content]
    i = len(boxes) - 2
    while i >= 0 and start - boxes[i][1] <= 80 and _LIST_GAP_RE.fullmatch(tail[boxes[i][1] : start]):
        start = boxes[i][0]
        parts.insert(0, boxes[i][2])  # "\boxed{2} and \boxed{3}": one answer, a list
        i -= 1
    segment = ", ".join(parts)
    if _PERCENT_AFTER_RE.match(tail, end) and "%" not in segment:
        segment += "%"  # "$\boxed{28}$ pct"
    mine = {_key(p) for p in parts}
    others = tuple(dict.fromkeys(b[2] for b in boxes[: i + 1] if _key(b[2]) not in mine))
    return _make(segment, "boxed", others)


def _hashes(tail: str) -> Extracted | None:
    """GSM8K's '#### 72' line."""
    at = tail.rfind("####")
    if at < 0:
        return None
    line = tail[at + 4 :].strip().split("\n", 1)[0]
    return _make(line, "hashes") if line.strip() else None


def _key(content: str) -> str:
    shape = read_span(content)
    if shape.values is not None:
        return repr(sorted(set(shape.values)))
    return "".join(clean(content).split()).lower()


def matches_starting_with(pattern: re.Pattern[str], text: str, words: tuple[str, ...]) -> list[re.Match[str]]:
    """list(pattern.finditer(text)) for a pattern whose every match starts with one of `words`.

    The regex engine would try the pattern at every character that starts one of the words (a
    third of all letters); str.find finds where the words are, and the pattern is tried only there,
    leftmost first and never inside the last match, as finditer does. `text` is a tail (at most
    TAIL_CHARS), so sorting the places is cheap.
    """
    starts = []
    for word in words:
        at = text.find(word)
        while at >= 0:
            starts.append(at)
            at = text.find(word, at + 1)
    starts.sort()
    found: list[re.Match[str]] = []
    end = 0
    for at in starts:
        if at >= end and (m := pattern.match(text, at)) is not None:
            found.append(m)
            end = m.end()
    return found


def _span_after(tail: str, start: int) -> str:
    """The answer span that starts at `start`: a display or inline LaTeX block, or the sentence."""
    rest = tail[start : start + SEGMENT_CHARS * 3]
    first = rest[:1]
    # Most spans start with their answer: no noise to strip (a regex pass saved) and no formula opener.
    stripped = _LEADING_NOISE_RE.sub("", rest) if first.isspace() or (first and first in _NOISE_STARTS) else rest
    offset = len(rest) - len(stripped)
    for opener, closer in _OPENERS if stripped.startswith(("$", "\\")) else ():
        if stripped.startswith(opener):
            close = _find_closer(stripped, closer, len(opener))
            if close < 0 or (opener in ("$", "\\(") and "\n" in stripped[:close]):
                break
            end = close + len(closer)
            after = _SENTENCE_END_RE.search(stripped, end, end + SEGMENT_CHARS)
            return rest[offset : offset + (after.start() if after else end)]
    end = _SENTENCE_END_RE.search(rest, offset, offset + SEGMENT_CHARS)
    return rest[offset : end.start() if end else offset + SEGMENT_CHARS]


def _find_closer(text: str, closer: str, start: int) -> int:
    """The next `closer` that is not escaped ('\\$' is a dollar sign, not the end of a formula)."""
    at = text.find(closer, start)
    while at > 0 and closer == "$" and text[at - 1] == "\\":
        at = text.find(closer, at + 1)
    return at


def _phrase(tail: str, lowered: str | None = None) -> Extracted | None:
    """The answer stated after "the answer is", "final answer:", "result =" (`lowered`: the tail lowered, if known)."""
    if lowered is None:
        lowered = lower_same_length(tail)
    if "answer" not in lowered and "result" not in lowered:
        return None
    for m in reversed(matches_starting_with(_PHRASE_RE, lowered, _PHRASE_WORDS)[-16:]):
        segment = _span_after(tail, m.end()).strip()
        if not segment:
            continue
        picked = _sentence_answer(segment, "phrase")
        if picked is not None:
            return picked
    return None


def _roots(tail: str) -> Extracted | None:
    end = tail[-SEGMENT_CHARS:].replace("$", "")
    if not any(_letter_before(end, at) for at in _equals_signs(end)):
        return None  # every root is a letter, white space, then "="
    roots = list(_ROOTS_RE.finditer(end))
    if roots and not numbers_in(end[roots[-1].end() :]):
        return _make(roots[-1].group(0), "roots")  # "x = 3 or x = 2" at the very end
    return None


def _equals_signs(text: str):
    at = text.find("=")
    while at >= 0:
        yield at
        at = text.find("=", at + 1)


def _letter_before(text: str, at: int) -> bool:
    """Whether `_ROOTS_RE` may match with its "=" at `at`: an ASCII lower-case letter, then only white space
    (`text` is at most SEGMENT_CHARS long: reading all before each "=" stays cheap)."""
    before = text[:at].rstrip()
    return before[-1:].isascii() and before[-1:].islower()


def _whole(tail: str) -> Extracted | None:
    """A short text that is nothing but an answer ('-\\frac{10}{9}', '24 or maybe 25', 'y=3+2x')."""
    short = tail.strip()
    if len(short) > SEGMENT_CHARS or "\n\n" in short:
        return None
    envs = list(_LATEX_ENV_RE.finditer(short))
    outside = _LATEX_ENV_RE.sub(" ", short) if envs else short
    words = re.findall(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}", re.sub(r"\\[a-zA-Z]+(?:\s*\{[^{}]*\})?", " ", outside))
    if len(words) > (0 if envs else _BARE_WORDS):
        return None
    found = _make(short, "whole")
    shape = found.shape
    if shape.kind == "empty" or (shape.kind in ("text", "expr") and words and not shape.hedge and numbers_in(short)):
        return None  # a sentence with numbers in it: the conclusion or last number decides
    return found


def _starts_sentence(text: str, at: int) -> bool:
    i = at - 1
    while i >= 0 and text[i] in " \t\r\n*_":
        if text[i] == "\n":
            return True
        i -= 1
    return i < 0 or text[i] in ".!?:"


def _conclusion(tail: str, lowered: str | None = None) -> Extracted | None:
    """The answer of the last sentence that starts "so", "therefore", "in total" ... (`lowered`: as for `_phrase`)."""
    if lowered is None:
        lowered = lower_same_length(tail)
    for m in reversed(matches_starting_with(_CONCLUSION_RE, lowered, _CONCLUSION_WORDS)[-32:]):
        if not _starts_sentence(tail, m.start()):
            continue  # "so" in the middle of a sentence is not a conclusion
        sentence = _span_after(tail, m.end())
        if _WORDS_ONLY_RE.fullmatch(sentence) and NUMBER_WORDS.isdisjoint(_LETTERS_RE.findall(sentence.lower())):
            continue  # "therefore verify the count": words only, which read as text, never a conclusion
        picked = _sentence_answer(sentence, "conclusion")
        if picked is not None and picked.shape.kind != "text":
            return picked
    return None


def _sentence_answer(sentence: str, how: str) -> Extracted | None:
    """The answer a sentence states: all of it when it is only an answer (a formula, '24 or 25', 'yes'),
    else its last formula or the number it states as a result, whichever comes last."""
    whole = _make(sentence, how)
    kind = whole.shape.kind
    if kind in ("number", "list", "set", "choice"):
        return whole  # taken whole whatever words it has: its words need not be found
    envs = list(_LATEX_ENV_RE.finditer(sentence))
    outside = _LATEX_ENV_RE.sub(" ", sentence) if envs else sentence
    words = re.findall(r"[a-zA-Z]{2,}", re.sub(r"\\[a-zA-Z]+", " ", outside))
    if kind != "empty" and (not words or (kind == "text" and whole.shape.hedge)):
        return whole
    if kind == "text" and len(sentence.strip()) <= 40 and not numbers_in(sentence):
        return whole  # "The answer is yes." / "... is Evelyn."
    stated = _sentence_number(_LATEX_ENV_RE.sub(lambda m: " " * len(m.group(0)), sentence), how) if words else None
    if envs and (stated is None or _position(sentence, stated.segment) < envs[-1].start()):
        return _make(envs[-1].group(0), how)
    if stated is not None:
        return stated
    return whole if kind == "expr" else None


def _position(sentence: str, segment: str) -> int:
    return sentence.rfind(segment) if segment else -1


def _sentence_number(sentence: str, how: str) -> Extracted | None:
    """The result a natural-language sentence states, with the numbers chained to it by hedges."""
    nums = [n for n in numbers_in(sentence) if n.has_value]
    if not nums:
        return None
    lowered = lower_same_length(sentence)
    results = {r.end() for r in RESULT_RE.finditer(lowered)}
    index = next((i for i in range(len(nums) - 1, -1, -1) if nums[i].start in results), 0)
    return _chain(sentence, nums, index, how)


def _chain(sentence: str, nums: list, index: int, how: str, all_before: bool = True) -> Extracted | None:
    """The number at `index`, widened to the neighbours that hedge it ("24 or maybe 25", "not 24").
    `all_before`: False when `nums` holds only the numbers after a cut; then None when the chain
    reaches the first of them and might go on before it."""
    first = last = index

    def chained(a: int, b: int, joint: int) -> bool:
        """Whether nums[a..b] read as one hedged list; `joint` is the new link (joint, joint + 1)."""
        # "12 times 2 is 24": a result word between two numbers ends the chain; the result is one value.
        if _GAP_RESULT_RE.search(lower_same_length(sentence[nums[joint].end : nums[joint + 1].start])):
            return False
        return read_span(sentence[nums[a].start : nums[b].end]).kind in ("list", "number")

    while first > 0 and index - first < MAX_CHAIN and chained(first - 1, last, first - 1):
        first -= 1
    if first == 0 and index < MAX_CHAIN and not all_before:
        return None
    while last + 1 < len(nums) and last - index < MAX_CHAIN and chained(first, last + 1, last):
        last += 1
    start, end = nums[first].start, nums[last].end
    # A number inside arithmetic is not the answer: "24 + 5" is read whole (and is 29).
    left = (
        _ARITHMETIC_LEFT_RE.search(sentence, max(0, start - 100), start) if _after_operator(sentence, start) else None
    )
    right = _ARITHMETIC_RIGHT_RE.match(sentence, end, end + 100)
    if left or right:
        start, end = left.start() if left else start, right.end() if right else end
        return _make(sentence[start:end], how)
    before = sentence[max(0, start - 24) : start]
    lead = _LEAD_RE.search(before) if _may_lead(before) else None
    if lead:
        start -= len(lead.group(0))
    return _make(sentence[start : end + _unit_len(sentence, end)], how)


def _after_operator(sentence: str, at: int) -> bool:
    """Whether `_ARITHMETIC_LEFT_RE` can end at `at`: it ends on an operator and spaces or tabs
    (its `$` may also stand before a last line break)."""
    head = sentence[max(0, at - 100) : at]
    for end in (head, head[:-1] if head.endswith("\n") else ""):
        stripped = end.rstrip(" \t")
        if stripped and stripped[-1] in _OPERATOR_CHARS:
            return True
    return False


def _may_lead(before: str) -> bool:
    """Whether `_LEAD_RE` can match at the end of `before`: it ends on one of its words or relations,
    then white space. Outside ASCII the regex's case folding ('ı' for 'i', 'ſ' for 's') is left to it."""
    return not before.isascii() or before.rstrip().lower().endswith(_LEAD_ENDINGS)


_UNIT_RE = re.compile(r"\s?(?:%|percent\b|[a-zA-Z]{1,12}\b)?")


def _unit_len(sentence: str, at: int) -> int:
    m = _UNIT_RE.match(sentence[at : at + 16])
    return m.end() if m else 0


def _last_expression(tail: str) -> Extracted | None:
    end = tail[-SEGMENT_CHARS * 2 :]
    envs = list(_LATEX_ENV_RE.finditer(end)) if "$" in end or "\\" in end else []  # what every env starts with
    number = last_number(tail)
    if envs and (number is None or number.start < len(tail) - len(end) + envs[-1].end()):
        return _make(envs[-1].group(0), "expression")
    if number is None:
        return None
    sentence_start = max(0, number.start - SEGMENT_CHARS)
    window = tail[sentence_start : number.end + 24]
    # Most chains end at the number before: the numbers from a cut a little before the number are
    # enough (the numbers of the window from there, `numbers_from`), and all are scanned only when not.
    cut = _cut_before(window, number.start - sentence_start - _NEAR_CHARS)
    if cut:
        nums = [n for n in numbers_from(window, cut) if n.has_value]
        index = _index_at(nums, number.start - sentence_start)
        found = _chain(window, nums, index, "last_number", all_before=False) if index >= 0 else None
        if found is not None:
            return found
    nums = [n for n in numbers_in(window) if n.has_value]
    index = _index_at(nums, number.start - sentence_start)
    if index < 0:
        return None
    return _chain(window, nums, index, "last_number")


def _index_at(nums: list, start: int) -> int:
    """The index of the number that starts at `start`, the last one when none does. No two numbers start
    at one place, and the one looked for is the last or nearly: searched from the end."""
    for i in range(len(nums) - 1, -1, -1):
        if nums[i].start == start:
            return i
    return len(nums) - 1


_NEAR_CHARS = 64  # how far before the last number its chain is first looked for


def _cut_before(window: str, at: int) -> int:
    """A cut (`is_cut`) at or before `at`, at most _NEAR_CHARS before it; 0 when there is none."""
    for cut in range(at, max(0, at - _NEAR_CHARS), -1):
        if is_cut(window, cut):
            return cut
    return 0
