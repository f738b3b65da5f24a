"""Probability-weighted grades and picks, read from the judge's token logprobs.

An argmax grade throws away what the model knows: a judge torn between 6 and 7 writes 7 and the
reward jumps by a whole step when a token's probability crosses one half. Where the backend
returns the top logprobs of each generated token, the grade becomes its expectation over the
digits the schema allows, sum(p(d) * d) / sum(p(d)), and the pick becomes a probability per
candidate. That is a smoother, lower-variance reward for GRPO (in the spirit of G-Eval).

The grade's token is found by walking the generated JSON (not by pattern-matching the text, which
a rationale could imitate) and mapping the grade's character offset to the token that holds it.
Only those decision tokens keep their alternatives when a generation is cached (`compact`).

A token is `[text, logprob, {alternative text: logprob} | None]`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

Token = list[Any]  # [text, logprob, alternatives or None]

_WS = re.compile(r"[ \t\r\n]*")
_SCALAR = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def value_offsets(text: str) -> dict[tuple[str, ...], int]:
    """Where each scalar value of a JSON document starts, keyed by its path; {} if it does not parse.

    What follows the document is ignored: the joined tokens end with the stop token (<|im_end|>).
    """
    out: dict[tuple[str, ...], int] = {}
    try:
        _walk(text, 0, (), out)
    except (IndexError, ValueError, json.JSONDecodeError):
        return {}
    return out


def _walk(text: str, i: int, path: tuple[str, ...], out: dict[tuple[str, ...], int]) -> int:
    i = _WS.match(text, i).end()
    ch = text[i]
    if ch in "{[":
        closing = "}" if ch == "{" else "]"
        i = _WS.match(text, i + 1).end()
        if text[i] == closing:
            return i + 1
        index = 0
        while True:
            if ch == "{":
                if text[i] != '"':
                    raise ValueError("expected a key")
                key, i = json.decoder.scanstring(text, i + 1)
                i = _WS.match(text, i).end()
                if text[i] != ":":
                    raise ValueError("expected ':'")
                i = _walk(text, i + 1, (*path, key), out)
            else:
                i = _walk(text, i, (*path, str(index)), out)
                index += 1
            i = _WS.match(text, i).end()
            if text[i] == ",":
                i = _WS.match(text, i + 1).end()
                continue
            if text[i] == closing:
                return i + 1
            raise ValueError("expected ',' or a closing bracket")
    out[path] = i
    if ch == '"':
        return json.decoder.scanstring(text, i + 1)[1]
    m = _SCALAR.match(text, i)
    if not m:
        raise ValueError("expected a value")
    return m.end()


def _token_at(starts: list[int], texts: list[str], offset: int) -> int | None:
    """Index of the token whose text covers character `offset` of the joined text."""
    lo, hi = 0, len(starts) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if starts[mid] + len(texts[mid]) <= offset:
            lo = mid + 1
        elif starts[mid] > offset:
            hi = mid - 1
        else:
            return mid
    return None


def _layout(tokens: list[Token]) -> tuple[str, list[str], list[int]]:
    texts = [str(t[0]) for t in tokens]
    starts, pos = [], 0
    for t in texts:
        starts.append(pos)
        pos += len(t)
    return "".join(texts), texts, starts


def decision_tokens(
    tokens: list[Token], labels: list[str], criteria: list[str] | tuple[str, ...]
) -> dict[tuple[str, str] | str, tuple[int, int]]:
    """(label, criterion) and "winner" -> (token index, offset of the value inside that token)."""
    joined, texts, starts = _layout(tokens)
    offsets = value_offsets(joined)
    found: dict[tuple[str, str] | str, tuple[int, int]] = {}
    for label in labels:
        for crit in criteria:
            off = offsets.get(("scores", label, crit))
            if off is None:
                continue
            i = _token_at(starts, texts, off)
            if i is not None:
                found[(label, crit)] = (i, off - starts[i])
    off = offsets.get(("winner",))
    if off is not None:
        i = _token_at(starts, texts, off + 1)  # the label starts after the opening quote
        if i is not None:
            found["winner"] = (i, off + 1 - starts[i])
    return found


DIGITS = frozenset("0123456789")  # ASCII only: str.isdigit() also accepts '²' and '٣', which int() may refuse


def _grade_of(piece: str, low: int, high: int) -> int | None:
    """The grade a token's text (after any prefix) writes: one ASCII digit on the scale, then no other digit."""
    if not piece or piece[0] not in DIGITS or any(ch in DIGITS for ch in piece[1:]):
        return None
    d = ord(piece[0]) - ord("0")
    return d if low <= d <= high else None


def _digit_distribution(token: Token, cut: int, low: int, high: int) -> dict[int, float] | None:
    """p(grade) over the allowed single digits at a grade token, renormalised; None if it cannot be read."""
    text, alts = str(token[0]), token[2]
    if not isinstance(alts, dict) or not alts:
        return None
    pre, rest = text[:cut], text[cut:]
    if _grade_of(rest, 0, 9) is None:
        return None
    mass: dict[int, float] = {}
    for alt, lp in alts.items():
        if not isinstance(alt, str) or not alt.startswith(pre) or not _finite(lp):
            continue
        d = _grade_of(alt[len(pre) :], low, high)
        if d is not None:
            mass[d] = mass.get(d, 0.0) + math.exp(lp)
    total = sum(mass.values())
    return {d: p / total for d, p in mass.items()} if total > 0 else None


def _finite(lp: Any) -> bool:
    return isinstance(lp, int | float) and not isinstance(lp, bool) and math.isfinite(lp) and lp <= 0.0


def _label_of(piece: str, labels: list[str]) -> str | None:
    """The one label a token's text can only be the start (or the whole) of, else None."""
    if not piece:
        return None
    hits = [lab for lab in labels if (lab + '"').startswith(piece) or piece.startswith(lab + '"')]
    return hits[0] if len(hits) == 1 else None


def _label_distribution(token: Token, cut: int, labels: list[str]) -> dict[str, float] | None:
    text, alts = str(token[0]), token[2]
    if not isinstance(alts, dict) or not alts:
        return None
    pre = text[:cut]
    if _label_of(text[cut:], labels) is None:
        return None
    mass: dict[str, float] = {}
    for alt, lp in alts.items():
        if not isinstance(alt, str) or not _finite(lp) or not alt.startswith(pre):
            continue
        lab = _label_of(alt[len(pre) :], labels)
        if lab is not None:
            mass[lab] = mass.get(lab, 0.0) + math.exp(lp)
    total = sum(mass.values())
    return {lab: p / total for lab, p in mass.items()} if total > 0 else None


def weighted(
    tokens: list[Token] | None,
    labels: list[str],
    criteria: list[str] | tuple[str, ...],
    scale: tuple[int, int],
) -> tuple[dict[str, dict[str, float]], dict[str, float] | None]:
    """Expected grades (label -> criterion -> value) and the pick's distribution over labels, where readable.

    Grades that cannot be read from the logprobs are simply absent (the caller keeps the written one).
    Grades above 9 or below 0 span several tokens, so the weighting is off for such scales.
    """
    grades: dict[str, dict[str, float]] = {}
    if not tokens:
        return grades, None
    low, high = scale
    digits_ok = low >= 0 and high <= 9
    picks = None
    for what, (i, cut) in decision_tokens(tokens, labels, criteria).items():
        if what == "winner":
            picks = _label_distribution(tokens[i], cut, labels)
        elif digits_ok:
            dist = _digit_distribution(tokens[i], cut, low, high)
            if dist:
                label, crit = what
                grades.setdefault(label, {})[crit] = sum(d * p for d, p in dist.items())
    return grades, picks


def compact(
    tokens: list[Token] | None,
    labels: list[str],
    criteria: list[str] | tuple[str, ...],
    scale: tuple[int, int] = (1, 9),
) -> list[Token] | None:
    """Keep only what the weighting reads: at a decision token, the alternatives the schema allows there
    (a grade on the scale, a label shown); every other token's alternatives are dropped."""
    if not tokens:
        return tokens
    low, high = scale
    allowed: dict[int, Any] = {}
    for what, (i, cut) in decision_tokens(tokens, labels, criteria).items():
        pre = str(tokens[i][0])[:cut]
        if what == "winner":
            allowed[i] = (pre, lambda piece: _label_of(piece, labels) is not None)
        else:
            allowed[i] = (pre, lambda piece: _grade_of(piece, low, high) is not None)
    out = []
    for i, t in enumerate(tokens):
        alts = t[2] if i in allowed and isinstance(t[2], dict) else None
        if alts is not None:
            pre, ok = allowed[i]
            alts = {a: lp for a, lp in alts.items() if isinstance(a, str) and a.startswith(pre) and _finite(lp)
                    and ok(a[len(pre) :])}  # fmt: skip
        out.append([t[0], t[1], alts])
    return out
