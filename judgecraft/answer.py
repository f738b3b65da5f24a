"""Final answers: where they are in a text, and whether they equal the gold answer.

Extraction follows how answers are actually written, strongest signal first: the last \\boxed{},
an "answer is / answer of / answer:" phrase, roots listed at the end ("x = 3 or x = 2"), the
concluding sentence ("Thus ... twenty-four hives"), then the last number.

Equivalence takes a fast exact path for numbers, fractions, percentages, thousands separators and
sets of numbers, which decides most rewards in microseconds, and hands everything else (LaTeX
expressions, intervals, symbolic forms) to math-verify in a persistent worker process
(judgecraft.worker) that is killed after a timeout. That bound works in threads, async code and
TRL's reward thread, where `signal.alarm` does not. Nothing from an answer is ever `eval`ed in this
process, and expressions that look like bombs are refused before they reach sympy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from judgecraft.numbers import Number, close_enough, last_number, lower_same_length, numbers_in, to_fraction
from judgecraft.worker import BoundedWorker, WorkerCrashed, WorkerTimeout

TAIL_CHARS = 4000  # answers sit at the end: only the tail of a long trace is searched
SEGMENT_CHARS = 300
SHORT_TEXT_ANSWER = 40  # a non-numeric phrase answer this short is taken as written ("yes", "B", "pirate")


@dataclass(frozen=True, slots=True)
class Extracted:
    """The answer a text gives: the segment as written, how it was found, and its numbers if plain."""

    segment: str
    how: str  # boxed | phrase | conclusion | roots | last_number | whole | none
    values: tuple[Fraction, ...] | None = None  # one number, or several for "x = 3 or x = 2"
    percent: bool = False

    @property
    def found(self) -> bool:
        return self.how != "none"


@dataclass(frozen=True, slots=True)
class Match:
    """Whether a prediction equals the gold answer, and how that was decided."""

    equal: bool
    method: str  # numeric | string | math-verify | timeout | refused | no-answer | error
    predicted: str = ""
    reason: str = ""


# ---------------------------------------------------------------- extraction
# Patterns run on lower-cased text (lower_same_length keeps positions), so none needs IGNORECASE,
# which would switch off the regex engine's fast skipping.

_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_PHRASE_RE = re.compile(
    r"(?:final answer|the answer|answer|result)\s*(?:is|of|:|=|would be|will be|should be|equals)\s*:?\s*"
)
_CONCLUSION_RE = re.compile(r"(?:thus|therefore|hence|so|in conclusion|in total|in the end|altogether|overall)\b")
RESULT_RE = re.compile(r"(?:=|equals?\b|is\b|are\b|gives(?: us)?\b|makes\b|comes to\b|totals?\b|yields?\b|get\b)\s*")
_NUM = r"-?\d+(?:\.\d+)?(?:/\d+)?"
_ROOTS_RE = re.compile(rf"\b([a-z])\s*=\s*{_NUM}(?:\s*(?:,|\bor\b|\band\b)\s*(?:\1\s*=\s*)?{_NUM})+")
_SET_SPLIT_RE = re.compile(r"\s*(?:,\s+|;\s*|\bor\b|\band\b)\s*")
_SET_ITEM_RE = re.compile(r"^\s*(?:[a-z]\s*=\s*)?(?P<num>[^\s,;]+?)[.!]?\s*$", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"(?<=[^\d\s])[.!?](?:\s|$)|\n")
_EXPRESSION_RE = re.compile(
    r"\d\s*[\^*×÷]|\\(?:sqrt|pi|cdot|times(?!\s*10)|frac\s*\{[^}]*[a-z\\])|[a-z]\s*\^", re.IGNORECASE
)
_CLEAN_RES = [
    (re.compile(r"\s*(?:\\times|\\cdot|×)\s*10\s*\^\s*\{?\s*(-?\d+)\s*\}?"), r"e\1"),  # 3\times 10^{8} -> 3e8
    (re.compile(r"\\(?:text|textbf|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}"), r"\1"),
    (re.compile(r"\\(?:left|right|displaystyle|!|,|;|:|quad|qquad)"), " "),
    (re.compile(r"\\\$|\$|\\\(|\\\)|\\\[|\\\]|\*\*"), " "),
    (re.compile(r"\^\s*\{?\\circ\}?|°"), ""),
]


def _balanced(text: str, open_at: int) -> str | None:
    """Content of the brace group that opens at text[open_at]."""
    depth = 0
    for i in range(open_at, min(len(text), open_at + 2000)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i]
    return None


def clean_segment(segment: str) -> str:
    if "\\" in segment or "$" in segment or "*" in segment or "°" in segment or "^" in segment:
        for pattern, repl in _CLEAN_RES:
            segment = pattern.sub(repl, segment)
    return " ".join(segment.split()).strip(" .,:;!")


def _plain_values(segment: str) -> tuple[tuple[Fraction, ...] | None, bool]:
    """Numbers of a segment that is just a number (with words or units around it) or a list of them."""
    s = clean_segment(segment)
    if not s or _EXPRESSION_RE.search(s):
        return None, False  # nothing, or an expression: the slow path decides
    if "," in s or ";" in s or " or " in s or " and " in s:
        parts = _SET_SPLIT_RE.split(s)
        if len(parts) > 1:
            values = []
            for part in parts:
                item = _SET_ITEM_RE.match(part)
                value = to_fraction(item.group("num")) if item else None
                if value is None:
                    break
                values.append(value)
            else:
                return tuple(values), False
    for number in numbers_in(s):
        value = number.value
        if value is not None:
            return (value,), number.percent
    return None, False


def _from_segment(segment: str, how: str) -> Extracted:
    segment = segment.strip()
    values, pct = _plain_values(segment)
    return Extracted(segment=segment, how=how, values=values, percent=pct)


def _from_number(text: str, number: Number, how: str) -> Extracted | None:
    value = number.value
    if value is None:
        return None
    return Extracted(text[number.start : number.end], how, (value,), number.percent)


def _sentence_end(text: str, start: int) -> int:
    m = _SENTENCE_END_RE.search(text, start, start + SEGMENT_CHARS)
    return m.start() + 1 if m else min(len(text), start + SEGMENT_CHARS)


def _starts_sentence(text: str, at: int) -> bool:
    """Whether position `at` begins a sentence: only white space since the last . ! ? or the start."""
    i = at - 1
    while i >= 0 and text[i] in " \t\r\n*_":
        if text[i] == "\n":
            return True
        i -= 1
    return i < 0 or text[i] in ".!?:"


def extract_answer(text: str) -> Extracted:
    """Find the answer a text gives (see the module docstring for the order of evidence)."""
    if not text or not text.strip():
        return Extracted("", "none")
    tail = text[-TAIL_CHARS:]

    if "boxed" in tail or "fbox" in tail:
        for m in reversed(list(_BOXED_RE.finditer(tail))):
            content = _balanced(tail, m.end() - 1)
            if content is not None and content.strip():
                return _from_segment(content, "boxed")

    lowered = lower_same_length(tail)
    phrases = list(_PHRASE_RE.finditer(lowered)) if "answer" in lowered or "result" in lowered else []
    for m in reversed(phrases):
        segment = tail[m.end() : _sentence_end(tail, m.end())]
        if not segment.strip():
            continue
        symbolic = "\\" in segment or "$" in segment
        extracted = _from_segment(segment, "phrase")
        if extracted.values is not None or symbolic:
            return extracted
        if len(segment.strip()) <= SHORT_TEXT_ANSWER and not numbers_in(tail[m.end() :]):
            return Extracted(segment.strip().rstrip(".!"), "phrase")  # "The answer is yes." / "... is B."

    end = tail[-SEGMENT_CHARS:].replace("$", "")
    roots = list(_ROOTS_RE.finditer(end)) if "=" in end else []
    if roots and not numbers_in(end[roots[-1].end() :]):
        return _from_segment(roots[-1].group(0), "roots")  # "x = 3 or x = 2" at the very end

    for m in reversed(list(_CONCLUSION_RE.finditer(lowered))):
        if not _starts_sentence(tail, m.start()):
            continue  # "so" in the middle of a sentence is not a conclusion
        end = _sentence_end(tail, m.end())
        sentence = tail[m.end() : end]
        nums = numbers_in(sentence)
        if not nums:
            continue
        results = {r.end() for r in RESULT_RE.finditer(lowered, m.end(), end)}
        chosen = next((n for n in reversed(nums) if n.start + m.end() in results), nums[0])
        extracted = _from_number(sentence, chosen, "conclusion")
        if extracted is not None:
            return extracted

    number = last_number(tail)
    if number is not None:
        return Extracted(tail[number.start : number.end], "last_number", (number.value,), number.percent)
    short = tail.strip()
    if len(short) <= SEGMENT_CHARS:
        return _from_segment(short, "whole")
    return Extracted("", "none")


# ---------------------------------------------------------------- gold answers


@dataclass(frozen=True, slots=True)
class Gold:
    """A gold answer, parsed once: its text, and its numbers when it is a plain number or set."""

    text: str
    values: tuple[Fraction, ...] | None
    percent: bool


@lru_cache(maxsize=65536)
def parse_gold(gold: str) -> Gold:
    """Parse a gold answer once (GSM8K '#### 24', MATH '\\boxed{..}' solutions, or a bare answer)."""
    text = str(gold).strip()
    if "####" in text:
        text = text.rsplit("####", 1)[1].strip()
    elif "\\boxed" in text or "\\fbox" in text:
        boxed = extract_answer(text)
        if boxed.how == "boxed":
            text = boxed.segment
    values, pct = _plain_values(text)
    if values is not None and len(values) == 1:
        # A gold answer is a number only if nothing but unit words surround it: "24", "24 hives", "$1,200".
        cleaned = clean_segment(text)
        nums = numbers_in(cleaned)
        rest = (cleaned[: nums[0].start] + cleaned[nums[0].end :]) if len(nums) == 1 else "?"
        if rest.strip(" $€£") and not re.fullmatch(r"[\s$€£]*[A-Za-z][A-Za-z\s.]*", rest):
            values = None
    return Gold(text=text, values=values, percent=pct)


# ---------------------------------------------------------------- equivalence

_BOMB_RE = re.compile(
    r"(?:\d|\})\s*(?:\^|\*\*)\s*\{?\s*[\d(]+\s*\}?\s*(?:\^|\*\*)"  # towers: 9**9**9, 2^{2^{100}}
    r"|\d{4,}\s*!|\\?factorial|(?:\^|\*\*)\s*\{?\s*\d{5,}"  # huge factorials and exponents
    r"|__|\bimport\b|\blambda\b|\beval\b|\bexec\b|\bos\.|\bsys\.|\bsubprocess\b",  # code, not maths
    re.IGNORECASE,
)


def _numbers_equal(pred: Extracted, gold: Gold) -> bool:
    assert pred.values is not None and gold.values is not None
    if len(gold.values) > 1 or len(pred.values) > 1:
        return len(pred.values) == len(gold.values) and all(
            any(close_enough(p, g) for p in pred.values) for g in gold.values
        )
    p, g = pred.values[0], gold.values[0]
    candidates = [p]
    if pred.percent != gold.percent:  # 50% against 0.5, or 0.5 against 50%
        candidates += [p / 100, p * 100]
    return any(close_enough(c, g) for c in candidates)


def _norm_string(s: str) -> str:
    s = clean_segment(s).lower()
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    return re.sub(r"\s+", "", s).strip("'\"`")


class AnswerChecker:
    """Decides answer equivalence: exact fast path first, then math-verify in a bounded worker."""

    def __init__(self, timeout: float = 5.0, use_math_verify: bool = True):
        self.timeout = timeout
        self.use_math_verify = use_math_verify

    def check(self, text: str, gold: str) -> Match:
        """Does the answer given in `text` equal `gold`?"""
        return self.compare_text(text, parse_gold(gold))

    def compare_text(self, text: str, gold: Gold) -> Match:
        return self.compare(extract_answer(text), gold, full_text=text)

    def compare(self, pred: Extracted, gold: Gold, full_text: str = "") -> Match:
        if not pred.found:
            return Match(False, "no-answer", "", "no answer found in the text")
        shown = pred.segment[:120]
        if gold.values is not None and pred.values is not None:
            equal = _numbers_equal(pred, gold)
            return Match(equal, "numeric", shown, "" if equal else f"{shown!r} != {gold.text!r}")
        if _norm_string(pred.segment) == _norm_string(gold.text):
            return Match(True, "string", shown)
        if gold.values is not None and pred.values is None and not _looks_mathematical(pred.segment):
            return Match(False, "numeric", shown, f"{shown!r} is not the number {gold.text!r}")
        if not self.use_math_verify:
            return Match(False, "string", shown, "no exact match and math-verify is off")
        for candidate in (pred.segment, full_text[-SEGMENT_CHARS * 2 :]):
            if _BOMB_RE.search(candidate):
                return Match(False, "refused", shown, "refused: looks like code or a computation bomb")
        candidates = [f"${pred.segment}$", full_text[-SEGMENT_CHARS * 2 :]] if full_text else [f"${pred.segment}$"]
        return _verify_in_worker(gold.text, tuple(c for c in candidates if c.strip()), self.timeout, shown)


def _looks_mathematical(segment: str) -> bool:
    return bool(re.search(r"[\\^*/+=()\[\]{}]|\d\s*[a-z]\b|sqrt|pi\b", segment, re.IGNORECASE))


# ---------------------------------------------------------------- the bounded worker

_worker = BoundedWorker("judgecraft.verify_worker")


def _verify_in_worker(gold: str, candidates: tuple[str, ...], timeout: float, shown: str) -> Match:
    try:
        reply = _worker.call({"gold": gold, "candidates": list(candidates)}, timeout)
    except WorkerTimeout:
        return Match(False, "timeout", shown, f"math-verify took longer than {timeout:g}s; worker killed")
    except WorkerCrashed as err:
        return Match(False, "error", shown, str(err)[:200])
    if "error" in reply:
        return Match(False, "error", shown, f"math-verify failed: {reply['error']}"[:200])
    equal = bool(reply["equal"])
    return Match(equal, "math-verify", shown, "" if equal else f"{shown!r} is not equivalent to {gold!r}")
