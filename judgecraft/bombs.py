"""Answers refused before sympy sees them: computation bombs and code, each with a reason.

sympy evaluates what it parses: `9^{9^{9}}`, `(10^8)!` or `\\binom{10^{8}}{5\\cdot10^{7}}` never
finish, and a worker that is killed after the timeout still costs the timeout and a restart. So a
span is read here first, in one linear pass over its characters, and refused when it holds an
exponent tower, a huge literal power or factorial, a binomial or sum of huge numbers, nesting too
deep, too many characters, or anything that looks like code. Symbolic towers (`e^{x^2}`) pass.
"""

from __future__ import annotations

import re

MAX_SPAN_CHARS = 1000
MAX_DEPTH = 24
MAX_EXPONENT_DIGITS = 5  # 2^{99999} is fine for sympy; 2^{999999} is not worth a reward
MAX_FACTORIAL_DIGITS = 4
MAX_BINOMIAL_DIGITS = 5
MAX_POWERS = 64  # each power's operands are read once: 64 x 1,000 characters at most

_CODE_RE = re.compile(r"__|\bimport\b|\blambda\b|\beval\b|\bexec\b|\bos\.|\bsys\.|\bsubprocess\b|\bopen\(")
_POWER_RE = re.compile(r"\^|\*\*")
_NUMERIC_POWER_RE = re.compile(r"[\d)}]\s*(?:\^|\*\*)\s*(?:[{(]\s*)?\d")
_DIGIT_POWER_RE = re.compile(r"\d\s*(?:\^|\*\*)\s*(?:[{(]\s*)?\d")
_BIG_FACTORIAL_RE = re.compile(rf"\d{{{MAX_FACTORIAL_DIGITS + 1},}}\s*!")
_GROUP_FACTORIAL_RE = re.compile(r"[)}]\s*!")
_FACTORIAL_WORD_RE = re.compile(r"factorial|\\Gamma|gamma\(")
_BINOMIAL_RE = re.compile(r"\\[dt]?binom|\\choose|binomial|\\sum|\\prod")
_BIG_NUMBER_RE = re.compile(rf"\d{{{MAX_BINOMIAL_DIGITS + 1},}}")
_GROUP_CLOSE = {"{": "}", "(": ")", "[": "]"}


def refuse_reason(span: str) -> str:
    """Why `span` must not reach sympy ('' when it may)."""
    if len(span) > MAX_SPAN_CHARS:
        return f"refused: {len(span)} characters is not an answer (limit {MAX_SPAN_CHARS})"
    if _CODE_RE.search(span):
        return "refused: looks like code, not maths"
    depth = _max_depth(span)
    if depth > MAX_DEPTH:
        return f"refused: nested {depth} deep (limit {MAX_DEPTH})"
    if "!" in span and (_BIG_FACTORIAL_RE.search(span) or _computed_factorial(span)):
        return "refused: factorial of a huge or computed number"
    if _FACTORIAL_WORD_RE.search(span) and (_BIG_NUMBER_RE.search(span) or _POWER_RE.search(span)):
        return "refused: factorial of a huge or computed number"
    if _BINOMIAL_RE.search(span) and (_BIG_NUMBER_RE.search(span) or _DIGIT_POWER_RE.search(span)):
        return "refused: binomial, sum or product of huge numbers"
    if _POWER_RE.search(span):
        return _power_reason(span)
    return ""


def _computed_factorial(span: str) -> bool:
    """(10^8)! or {(9)^9}!: a factorial of a group that computes a big number."""
    s = span.replace(" ", "")
    for m in _GROUP_FACTORIAL_RE.finditer(s):
        group = _base_before(s, m.start() + 1)
        if _NUMERIC_POWER_RE.search(group) or _BIG_FACTORIAL_RE.search(group + "!"):
            return True
    return False


def _max_depth(span: str) -> int:
    depth = deepest = 0
    for ch in span:
        if ch in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "})]":
            depth = max(0, depth - 1)
    return deepest


def _power_reason(span: str) -> str:
    """Towers with numbers in them (2^{3^{99}}, (9)**(9)**(9), (9^9)^{9^9}) and huge literal exponents."""
    s = span.replace("\\left", "").replace("\\right", "").replace(" ", "")
    powers = list(_POWER_RE.finditer(s))
    if len(powers) > MAX_POWERS:
        return f"refused: {len(powers)} powers in one answer (limit {MAX_POWERS})"
    for m in powers:
        exponent, end = _operand(s, m.end())
        if _BIG_NUMBER_RE.search(exponent) and len(max(re.findall(r"\d+", exponent), key=len)) > MAX_EXPONENT_DIGITS:
            return "refused: huge exponent"
        if _NUMERIC_POWER_RE.search(exponent):
            return "refused: exponent tower"
        if "!" in exponent:
            return "refused: factorial in an exponent"
        if _POWER_RE.match(s, end) and re.search(r"\d", exponent):
            return "refused: exponent tower"  # 9**9**9 (right-associative)
        base = _base_before(s, m.start())
        if _NUMERIC_POWER_RE.search(base) and re.search(r"\d", exponent):
            return "refused: exponent tower"  # (9^9)^{9^9}
    return ""


def _operand(s: str, at: int) -> tuple[str, int]:
    """The exponent that starts at s[at]: a brace or parenthesis group, or a run of digits/letters."""
    if at < len(s) and s[at] in _GROUP_CLOSE:
        close, depth = _GROUP_CLOSE[s[at]], 0
        for i in range(at, min(len(s), at + MAX_SPAN_CHARS)):
            if s[i] == s[at]:
                depth += 1
            elif s[i] == close:
                depth -= 1
                if depth == 0:
                    return s[at + 1 : i], i + 1
        return s[at:], len(s)
    m = re.compile(r"-?(?:\d+|[a-zA-Z]|\\[a-zA-Z]+)").match(s, at)
    return (m.group(0), m.end()) if m else ("", at)


def _base_before(s: str, at: int) -> str:
    """The group that ends just before s[at] (the base of a power), if it is a group."""
    if at == 0 or s[at - 1] not in "})]":
        return ""
    opener = {"}": "{", ")": "(", "]": "["}[s[at - 1]]
    depth = 0
    for i in range(at - 1, max(-1, at - 1 - MAX_SPAN_CHARS), -1):
        if s[i] == s[at - 1]:
            depth += 1
        elif s[i] == opener:
            depth -= 1
            if depth == 0:
                return s[i:at]
    return ""
