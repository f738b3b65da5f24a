"""Finding a construct's tags in text, in linear time: the first step of `parse`.

A tag is found whatever its case, spaces or attributes, by one regex whose quantifiers never
backtrack; plain `<name>` / `</name>` are recognised by a dict look-up. `detect_prefill` uses the
same scan to tell whether a prompt already ends with the construct's opening tags.
"""

from __future__ import annotations

import re
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
def _exact_forms(names: tuple[str, ...]) -> dict[str, tuple[str, bool]]:
    """`<name>` and `</name>` as written plainly: the common case, recognised by one dict look-up."""
    return {f"<{n}>": (n, False) for n in names} | {f"</{n}>": (n, True) for n in names}


def scan_tags(text: str, construct: Construct, limit: int | None = None) -> list[TagEvent]:
    """The construct tags in the text, in order (case, spaces and attributes tolerated); the first `limit`."""
    events: list[TagEvent] = []
    append, exact_forms = events.append, _exact_forms(construct.tag_names)
    for m in tag_pattern(construct.tag_names).finditer(text):
        if limit is not None and len(events) >= limit:
            break
        start, end = m.span()
        plain = exact_forms.get(m.group())
        if plain is not None:
            append(TagEvent(plain[0], plain[1], False, start, end, True))
            continue
        slash, name, inner = m.groups()
        closing = slash is not None
        append(TagEvent(name.lower(), closing, not closing and inner.rstrip().endswith("/"), start, end, False))
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
