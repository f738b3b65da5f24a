"""Finding a construct's tags in text, in linear time: the first step of `parse`.

A tag is found whatever its case, spaces or attributes, by one regex whose quantifiers never
backtrack; plain `<name>` / `</name>` are recognised by a dict look-up. `detect_prefill` uses the
same scan to tell whether a prompt already ends with the construct's opening tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import NamedTuple

from judgecraft.construct import Construct


class TagEvent(NamedTuple):
    """One construct tag in the text."""

    name: str  # canonical (lower-case) name
    closing: bool
    self_closing: bool
    start: int  # span of the tag itself
    end: int
    exact: bool  # written exactly as <name> or </name>


@cache
def tag_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    """Opening, closing and self-closing forms of the construct's tags, tolerant of case, spaces and attributes.

    Linear by construction: every quantifier is possessive (no backtracking), and a candidate's
    scan stops at the next `<` or `>`, so the regions scanned from successive candidates never
    overlap. Attributes of any length are read, so a long tag cannot hide from the leak check.
    """
    alternatives = "|".join(sorted((re.escape(n) for n in names), key=len, reverse=True))
    first = "".join(sorted({re.escape(n[0]) for n in names}))  # a `<` not followed by these fails at once
    return re.compile(rf"<(?=[\s/{first}])\s*+(/)?+\s*+({alternatives})(?=[\s/>])([^<>]*+)>", re.IGNORECASE)


@cache
def _head_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    """The head of a tag as `tag_pattern` reads it (`<`, an optional `/`, the name), without the rest."""
    return re.compile(tag_pattern(names).pattern.removesuffix(r"([^<>]*+)>"), re.IGNORECASE)


@cache
def _exact_forms(names: tuple[str, ...]) -> dict[str, tuple[str, bool]]:
    """`<name>` and `</name>` as written plainly: the common case, recognised by one dict look-up."""
    return {f"<{n}>": (n, False) for n in names} | {f"</{n}>": (n, True) for n in names}


def find_tags(text: str, names: tuple[str, ...], pos: int = 0) -> Iterator[tuple[int, int, bool, str, int]]:
    """(start, end, closing, name as written, where the attributes start) of each tag: the matches of
    `tag_pattern(names).finditer(text, pos)`, found faster.

    The head is matched by the regex, the rest (`[^<>]*>`) with str.find, which runs at memory speed
    where the regex steps through a long tag character by character. Each head looks no further
    than the next `<`, as the regex does, so the scan stays linear.
    """
    head = _head_pattern(names)
    size = len(text)
    while (m := head.search(text, pos)) is not None:
        after = m.end()
        lt = text.find("<", after)
        gt = text.find(">", after, lt if lt >= 0 else size)
        if gt < 0:  # a `<` or the end comes first: not a tag, look again just after this `<`
            pos = m.start() + 1
            continue
        yield m.start(), gt + 1, m.group(1) is not None, m.group(2), after
        pos = gt + 1


def _self_closing(text: str, inner_start: int, inner_end: int) -> bool:
    """Whether a tag's attributes end in `/` (white space after it allowed), without copying them all."""
    tail = text[max(inner_start, inner_end - 64) : inner_end].rstrip()
    if tail or inner_end - inner_start <= 64:
        return tail.endswith("/")
    return text[inner_start:inner_end].rstrip().endswith("/")


def scan_tags(text: str, construct: Construct, limit: int | None = None) -> list[TagEvent]:
    """The construct tags in the text, in order (case, spaces and attributes tolerated); the first `limit`."""
    events: list[TagEvent] = []
    append, exact_forms = events.append, _exact_forms(construct.tag_names)
    longest_plain = max(map(len, exact_forms), default=0)
    for start, end, closing, name, inner_start in find_tags(text, construct.tag_names):
        if limit is not None and len(events) >= limit:
            break
        plain = exact_forms.get(text[start:end]) if end - start <= longest_plain else None
        if plain is not None:
            append(TagEvent(plain[0], plain[1], False, start, end, True))
            continue
        self_closing = not closing and _self_closing(text, inner_start, end - 1)
        append(TagEvent(name.lower(), closing, self_closing, start, end, False))
    return events


def detect_prefill(prompt: str | None, construct: Construct) -> str:
    """The construct's opening tags a prompt already ends with (an assistant prefill), else "".

    Only a tail made of nothing but the construct's opening tags and white space counts, so a
    question that merely mentions a tag is not mistaken for a prefill.
    """
    if not prompt:
        return ""
    events = scan_tags(prompt[-4096:], construct)
    tail_start = None
    for ev in reversed(events):
        if ev.closing:
            break
        tail_start = ev.start
    if tail_start is None:
        return ""
    tail = prompt[-4096:][tail_start:]
    leftover = tag_pattern(construct.tag_names).sub("", tail)
    return tail if not leftover.strip() else ""


def variant_kind(tag_text: str) -> str:
    """How a tag deviates from `<name>`: self-closing, attributes, whitespace or case."""
    inner = tag_text.strip("<>/ \t\r\n")
    if tag_text.rstrip().endswith("/>"):
        return "self-closing"
    if any(ch.isspace() for ch in inner) or "=" in inner:
        return "attributes" if "=" in inner or len(inner.split()) > 1 else "whitespace"
    if tag_text != tag_text.lower():
        return "case"
    return "whitespace"
