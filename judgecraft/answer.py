"""Whether the answer a text gives equals the gold answer: a cascade with one rule.

Exact when certain: when the whole answer span is a number, a fraction, a percentage or a set of
numbers (judgecraft.spans), exact arithmetic on `Fraction`s decides in microseconds. Otherwise
math-verify decides on the span, in a persistent worker process (judgecraft.worker) that is killed
after the time left in the completion's budget, never on a number picked out of the span.

The commitment policy (`commit="strict"`, the default): an answer that offers several distinct
candidates (a hedge, a range, an enumeration, a negation, a set, a plus-minus, several different
boxed answers) is not equal to a single gold answer; "either 2 or 3" equals only a gold answer with
the same roots. `commit="lenient"` takes the first candidate instead. Scale is explicit: `x%`
equals `x` or `x/100`, never `100x`.

Verdicts are cached per (gold, span), so a GRPO group that repeats an answer pays once, and spans
that look like computation bombs or code are refused before sympy (judgecraft.bombs).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from judgecraft.bombs import refuse_reason
from judgecraft.extraction import RESULT_RE, Extracted, extract_answer
from judgecraft.numbers import close_enough
from judgecraft.spans import ReadsShape, Shape, clean, read_span, top_level_parts
from judgecraft.worker import BoundedWorker, WorkerCrashed, WorkerTimeout

__all__ = ["RESULT_RE", "AnswerChecker", "Budget", "Extracted", "Gold", "Match", "extract_answer", "parse_gold"]

COMMIT_POLICIES = ("strict", "lenient")
CACHE_SIZE = 16384
MAX_GOLD_CHARS = 20_000
_WORDS_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")
_DELIMITERS_RE = re.compile(r"\$|\\\(|\\\)|\\\[|\\\]")
_EMPTY = Shape("empty")
_SQRT_PAREN_RE = re.compile(r"\\sqrt\s*\(([^()]{1,200})\)")
_ROMAN_LETTER_RE = re.compile(r"\\(?:mathrm|rm|text)\s*\{\s*([a-zA-Z])\s*\}")
# Plain numbers joined by + - * × ÷ and nothing else ("1000 - 457", "4 \\cdot 6"): the question
# restated, not an answer. Each repetition must consume an operator, and white space belongs to one
# place only (a number takes it only inside its parentheses): two adjacent `\s*` would let every gap
# split its spaces two ways, and a failing span of n operators be retried 4^n ways.
_NUMBER = r"(?:\(\s*)?-?\d+(?:[.,]\d+)*(?:\s*\))?"
_UNEVALUATED_RE = re.compile(rf"[\s$]*{_NUMBER}(?:\s*(?:[-+*×÷·−]|\\cdot|\\times|\\div)\s*{_NUMBER})+[\s$.]*")
_ZERO_DENOMINATOR_RE = re.compile(r"(?<![\d.])\d+\s*/\s*0+(?![\d.])|\\d?frac\s*\{[^{}]{0,50}\}\s*\{\s*0+\s*\}")
_ROUNDING = Fraction(1, 2 * 10**6)  # math-verify's 6 decimal places, for rounded decimals


@dataclass(frozen=True, slots=True)
class Match:
    """Whether a prediction equals the gold answer, and how that was decided."""

    equal: bool
    method: str  # numeric | string | choice | math-verify | uncommitted | timeout | refused | no-answer | error
    predicted: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Gold(ReadsShape):
    """A gold answer, parsed once: its answer span and what it says (`error` when it cannot be used)."""

    text: str
    shape: Shape = _EMPTY
    error: str = ""

    @classmethod
    def from_extracted(cls, extracted: Extracted) -> Gold:
        """An extracted answer used as the reference (alignment compares two answers of one text)."""
        return cls(extracted.segment, extracted.shape)


class Budget:
    """Seconds of math-verify time one completion may spend, over all its checks together."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.spent = 0.0

    def remaining(self) -> float:
        return self.seconds - self.spent


# ---------------------------------------------------------------- gold answers


def _gold_text(gold: object) -> tuple[str, str]:
    """The gold answer as text, or a reason why it has none (never raises, whatever the type)."""
    try:
        if gold is None:
            return "", "no gold answer"
        if isinstance(gold, bytes):
            gold = gold.decode("utf-8", "replace")
        if isinstance(gold, (list, tuple)):
            parts = [_gold_text(g) for g in gold]
            if not parts or any(err for _, err in parts):
                return "", "a gold answer list must hold answers"
            return ", ".join(text for text, _ in parts), ""
        if isinstance(gold, float) and (gold != gold or gold in (float("inf"), float("-inf"))):
            return "", f"gold answer {gold!r} is not a number"
        text = gold if isinstance(gold, str) else str(gold)
    except (ValueError, TypeError, OverflowError, RecursionError) as err:  # int('1'*5000) -> str raises
        return "", f"gold answer of type {type(gold).__name__} cannot be read: {str(err)[:120]}"
    text = text.strip()
    if not text:
        return "", "empty gold answer"
    if len(text) > MAX_GOLD_CHARS:
        return "", f"gold answer of {len(text)} characters is too long"
    return text, ""


@lru_cache(maxsize=65536)
def _parse_gold_text(text: str) -> Gold:
    if "####" in text:
        text = text.rsplit("####", 1)[1].strip()
    elif "\\boxed" in text or "\\fbox" in text or len(_WORDS_RE.findall(text)) > 2:
        found = extract_answer(text)  # a MATH solution or a sentence: its boxed or stated answer
        if found.found:
            return Gold(found.segment, found.shape)
    return Gold(text, read_span(text))


def parse_gold(gold: object) -> Gold:
    """Parse a gold answer once (GSM8K '#### 24', MATH '\\boxed{..}' solutions, a bare answer, numbers)."""
    text, error = _gold_text(gold)
    return Gold("", error=error) if error else _parse_gold_text(text)


parse_gold.cache_clear = _parse_gold_text.cache_clear  # type: ignore[attr-defined]
parse_gold.cache_info = _parse_gold_text.cache_info  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the exact path


def _near(a: Fraction, b: Fraction) -> bool:
    if close_enough(a, b):
        return True
    if a.denominator == b.denominator == 1:
        return False  # two different whole numbers are at least 1 apart, never within the rounding
    return max(abs(a), abs(b)) >= Fraction(1, 1000) and abs(a - b) < _ROUNDING


def _single_equal(p: Fraction, p_pct: bool, g: Fraction, g_pct: bool) -> bool:
    """Scale is explicit: `x%` is `x/100`; a gold `x%` also accepts the bare `x`, and a whole-number
    `x%` the bare whole gold `x` (GSM8K's golds drop the sign). Never `100x`: gold 50 rejects '0.5%',
    gold 50% rejects '5000'."""
    if p_pct == g_pct:
        return _near(p, g)
    if p_pct:
        return _near(p / 100, g) or (p.denominator == 1 and p == g)
    return _near(p, g) or _near(p, g / 100)


def _same_set(pred: tuple[Fraction, ...], gold: tuple[Fraction, ...]) -> bool:
    return all(any(_near(p, g) for g in gold) for p in pred) and all(any(_near(p, g) for p in pred) for g in gold)


def _is_unevaluated(segment: str) -> bool:
    """Whether a span is only arithmetic on plain numbers, e.g. '1000 - 457' (see `_UNEVALUATED_RE`)."""
    return len(segment) <= 200 and _UNEVALUATED_RE.fullmatch(segment) is not None


def _norm_string(s: str) -> str:
    return "".join(clean(s).lower().split()).strip("'\"`")


def _latex(segment: str) -> str:
    """A span as math-verify reads it: one inline formula, with the slips it misreads mended
    (a dollar sign, trailing punctuation, '\\sqrt(2)', '\\mathrm{e}')."""
    s = _DELIMITERS_RE.sub(" ", segment.replace("\\$", " "))
    s = _SQRT_PAREN_RE.sub(r"\\sqrt{\1}", s)
    s = _ROMAN_LETTER_RE.sub(r"\1", s)
    return "$" + " ".join(s.split()).rstrip(" .,;:") + "$"


# ---------------------------------------------------------------- the checker


class AnswerChecker:
    """Decides answer equivalence: exact when certain, math-verify on the span otherwise."""

    def __init__(self, timeout: float = 5.0, use_math_verify: bool = True, commit: str = "strict"):
        if commit not in COMMIT_POLICIES:
            raise ValueError(f"commit must be one of {COMMIT_POLICIES}, got {commit!r}")
        self.timeout = timeout
        self.use_math_verify = use_math_verify
        self.commit = commit
        self._cache: OrderedDict[tuple[str, str], Match] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._siblings: dict[str, AnswerChecker] = {}

    def __getstate__(self) -> dict:
        """Picklable for process pools: the cache and its lock stay behind."""
        return {"timeout": self.timeout, "use_math_verify": self.use_math_verify, "commit": self.commit}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def with_commit(self, commit: str) -> AnswerChecker:
        """This checker under another commitment policy (same timeout; kept, so its cache is reused)."""
        if commit == self.commit:
            return self
        sibling = self._siblings.get(commit)
        if sibling is None:
            sibling = self._siblings[commit] = AnswerChecker(self.timeout, self.use_math_verify, commit)
        return sibling

    def budget(self) -> Budget:
        """A fresh time budget for one completion (share it over all the checks of that completion)."""
        return Budget(self.timeout)

    def check(self, text: object, gold: object) -> Match:
        """Does the answer given in `text` equal `gold`? Never raises."""
        return self.compare(extract_answer(text), parse_gold(gold))

    def compare_text(self, text: object, gold: Gold) -> Match:
        return self.compare(extract_answer(text), gold)

    def compare(self, pred: Extracted, gold: Gold, full_text: str = "", budget: Budget | None = None) -> Match:
        """Compare an extracted answer with a parsed gold answer. `full_text` is unused (kept for callers)."""
        try:
            return self._compare(pred, gold, budget or self.budget())
        except Exception as err:  # a bug here must cost one reward, not a training run
            return Match(False, "error", pred.segment[:120], f"{type(err).__name__}: {str(err)[:160]}")

    def _compare(self, pred: Extracted, gold: Gold, budget: Budget) -> Match:
        if gold.error:
            return Match(False, "error", pred.segment[:120], gold.error)
        if not pred.found:
            return Match(False, "no-answer", "", "no answer found in the text")
        shown = pred.segment[:120]
        shape = pred.shape
        if pred.hedge and not self._committed_enough(pred, gold):
            return Match(False, "uncommitted", shown, f"the answer is not committed to one value: {pred.hedge}")
        if shape.choice or gold.shape.choice:
            decided = _compare_choice(shape, gold.shape, shown)
            if decided is not None:
                return decided
        exact = self._exact(shape, gold, shown)
        if exact is not None:
            return exact
        if self.commit == "strict" and gold.values is not None and _is_unevaluated(pred.segment):
            return Match(False, "unevaluated", shown, "arithmetic left undone is not an answer (the question restated)")
        if _norm_string(pred.segment) == _norm_string(gold.text) or (
            shape.kind == gold.shape.kind == "text" and _norm_string(shape.text) == _norm_string(gold.shape.text)
        ):
            return Match(True, "string", shown)
        if _ZERO_DENOMINATOR_RE.search(pred.segment):  # undefined: sympy's answer would depend on its caches
            return Match(False, "undefined", shown, "division by zero")
        if not self.use_math_verify or "open-ended" in shape.hedge or "open-ended" in gold.shape.hedge:
            return Match(False, "string", shown, "no exact match (an open-ended list, or math-verify is off)")
        return self._slow(_latex(pred.segment), _latex(gold.text), budget, shown, gold.text)

    def _committed_enough(self, pred: Extracted, gold: Gold) -> bool:
        """Whether a span with several candidates may still equal the gold answer (see the policy)."""
        hedge = pred.shape.hedge
        if hedge == "negation":
            return False
        if _is_many(gold):  # roots, tuples, sets: compared as such ("either 2 or 3" against roots 2, 3)
            return hedge != "range"
        if self.commit == "lenient":
            return True
        # A set, tuple or interval against a single expression (an inequality, a formula) is for
        # math-verify to judge; against a single number, several candidates never count.
        return hedge in _STRUCTURES and not pred.others and gold.values is None and gold.shape.kind == "expr"

    def _exact(self, shape: Shape, gold: Gold, shown: str) -> Match | None:
        g = gold.values
        p = shape.values
        if g is not None and p is not None:
            # len() first: a set of Fractions hashes each one (a modular inverse), and most answers are one value
            if (len(g) > 1 and len(set(g)) > 1) or (len(p) > 1 and len(set(p)) > 1):
                if len(set(g)) == 1 and self.commit == "lenient":
                    equal = _single_equal(p[0], shape.percent, g[0], gold.percent)
                else:
                    equal = _same_set(p, g)
            else:
                equal = _single_equal(p[0], shape.percent, g[0], gold.percent)
            return Match(equal, "numeric", shown, "" if equal else f"{shown!r} != {gold.text!r}")
        if g is not None and shape.kind == "text":
            return Match(False, "numeric", shown, f"{shown!r} is not the number {gold.text!r}")
        if g is not None and len(set(g)) == 1 and shape.hedge:
            return Match(False, "uncommitted", shown, f"several values against one: {shape.hedge}")
        return None

    def _slow(self, pred: str, gold: str, budget: Budget, shown: str, gold_shown: str) -> Match:
        for side in (pred, gold):
            reason = refuse_reason(side)
            if reason:
                return Match(False, "refused", shown, reason)
        key = (gold, pred)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return Match(cached.equal, cached.method, shown, cached.reason)
        remaining = budget.remaining()
        if remaining <= 0:
            return Match(False, "timeout", shown, "this completion's answer time budget is spent")
        try:
            _worker.start()  # start-up (imports) is not the answer's time
        except WorkerCrashed as err:
            return Match(False, "error", shown, str(err)[:200])
        started = time.monotonic()
        match = _verify_in_worker(gold, pred, remaining, shown, gold_shown)
        budget.spent += time.monotonic() - started
        if match.method != "error":
            with self._cache_lock:
                self._cache[key] = match
                if len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return match


_STRUCTURES = (
    "a tuple or interval, not one value",
    "a set of several values",
    "an open-ended enumeration",
    "a relation, not a value",
)
_LETTER_RE = re.compile(r"(?<![A-Za-z\\])([A-E])(?![A-Za-z])")


def _is_many(gold: Gold) -> bool:
    """A gold answer with several parts: a list or set of numbers, a tuple, an interval, roots, a plus-minus."""
    if gold.values is not None:
        return len(set(gold.values)) > 1
    return bool(gold.shape.hedge) or len(top_level_parts(gold.shape.text)) > 1


def _compare_choice(pred: Shape, gold: Shape, shown: str) -> Match | None:
    """A multiple-choice letter decides when both sides have one; the option text answers a value."""
    if pred.choice and gold.choice:
        equal = pred.choice == gold.choice
        return Match(equal, "choice", shown, "" if equal else f"option {pred.choice} is not {gold.choice}")
    if gold.choice and gold.text == gold.choice:  # gold is only a letter: the one letter the answer names
        letters = set(_LETTER_RE.findall(pred.text))
        equal = letters == {gold.choice}
        return Match(equal, "choice", shown, "" if equal else f"the answer names no single option {gold.choice}")
    return None


# ---------------------------------------------------------------- the bounded worker

_worker = BoundedWorker("judgecraft.verify_worker")


def _verify_in_worker(gold: str, pred: str, timeout: float, shown: str, gold_shown: str) -> Match:
    try:
        reply = _worker.call({"gold": gold, "pred": pred}, timeout)
    except WorkerTimeout:
        return Match(False, "timeout", shown, f"math-verify took longer than {timeout:.3g}s; worker killed")
    except WorkerCrashed as err:
        return Match(False, "error", shown, str(err)[:200])
    if "error" in reply:
        return Match(False, "error", shown, f"math-verify failed: {reply['error']}"[:200])
    equal = bool(reply.get("equal"))
    return Match(equal, "math-verify", shown, "" if equal else f"{shown!r} is not equivalent to {gold_shown!r}")
