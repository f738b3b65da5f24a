"""Finding a construct's tags in text, in linear time: the first step of `parse`.

A tag is found whatever its case, spaces or attributes, by one regex whose quantifiers never
backtrack; plain `<name>` / `</name>` are recognised by a dict look-up. `detect_prefill` uses the
same scan to tell whether a prompt already ends with the construct's opening tags.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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


_SHORT_ATTRIBUTES = 256  # attributes read by the regex itself; a longer tag's end is found with str.find


@cache
def _short_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    """`tag_pattern` with the attributes read only up to `_SHORT_ATTRIBUTES` characters (the rest optional).

    A tag whose attributes go on longer matches only its head here (`<`, `/`, the name), and its end
    is then found with str.find, which runs at memory speed where the regex steps through the
    attributes character by character (a 10 MB tag: milliseconds instead of 70).
    """
    head = tag_pattern(names).pattern.removesuffix(r"([^<>]*+)>")
    return re.compile(head + rf"(?:([^<>]{{0,{_SHORT_ATTRIBUTES}}}+)>)?", re.IGNORECASE)


@cache
def _exact_forms(names: tuple[str, ...]) -> dict[str, tuple[str, bool]]:
    """`<name>` and `</name>` as written plainly: the common case, recognised by one dict look-up."""
    return {f"<{n}>": (n, False) for n in names} | {f"</{n}>": (n, True) for n in names}


def _long_tag_end(text: str, after: int) -> int:
    """Where a tag whose head ends at `after` ends (just past its `>`), or -1 when a `<` or the end comes first.

    The search stops at the next `<`, as `[^<>]*` does, so successive heads never scan the same text.
    """
    lt = text.find("<", after)
    gt = text.find(">", after, lt if lt >= 0 else len(text))
    return gt + 1 if gt >= 0 else -1


class TagTally(NamedTuple):
    """The tags of a text as `tally_tags` lists them: names as written, and where the closing ones are."""

    written: list[str]  # each tag's name as written, in order
    closing: list[int]  # the indexes (into `written`) of the closing tags
    closing_starts: list[int]  # where each closing tag starts
    closing_ends: list[int]  # and ends


def tally_tags(text: str, names: tuple[str, ...], pos: int = 0, endpos: int | None = None) -> TagTally:
    """The matches of `tag_pattern(names).finditer(text, pos, endpos)`, listed for counting (no object per tag).

    `endpos` must be the end of the text or the position of a `<`: no tag spans a `<`, so the tags
    of text[pos:endpos] are then exactly those the whole text has there.

    What `parse` needs of the tags past its tree cap: how many of each name open and close, and
    where the closing ones are. An opening tag costs one regex step and one append; attributes are
    not stepped through (see `_long_tag_end`).
    """
    written: list[str] = []
    closing: list[int] = []
    closing_starts: list[int] = []
    closing_ends: list[int] = []
    add = written.append
    for m in _short_pattern(names).finditer(text, pos, len(text) if endpos is None else endpos):
        slash, name, attributes = m.groups()
        if attributes is None:
            end = _long_tag_end(text, m.end())
            if end < 0:
                continue  # not a tag; the next head is after the next `<`, where finditer goes on
        elif slash is None:
            add(name)
            continue
        else:
            end = m.end()
        if slash is not None:
            closing.append(len(written))
            closing_starts.append(m.start())
            closing_ends.append(end)
        add(name)
    return TagTally(written, closing, closing_starts, closing_ends)


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
    for m in _short_pattern(construct.tag_names).finditer(text):
        if limit is not None and len(events) >= limit:
            break
        start = m.start()
        if m.group(3) is not None:  # a short tag, read whole by the regex
            end = m.end()
            plain = exact_forms.get(m.group())
            if plain is not None:
                append(TagEvent(plain[0], plain[1], False, start, end, True))
                continue
        else:
            end = _long_tag_end(text, m.end())
            if end < 0:
                continue
        slash, name = m.group(1, 2)
        closing = slash is not None
        append(
            TagEvent(name.lower(), closing, not closing and _self_closing(text, m.end(2), end - 1), start, end, False)
        )
    return events


_MAX_OTHER_LT = 64  # `<` that are not tags ("x < 3") the plain scan checks before leaving the text to scan_tags


@cache
def _plain_pattern(forms: tuple[str, ...]) -> re.Pattern[str]:
    """The forms in order and no other `<` anywhere: the commonest text, matched by one call (possessive: linear)."""
    gap = "[^<]*+"
    return re.compile(gap + gap.join(f"({re.escape(form)})" for form in forms) + gap)


def scan_plain(text: str, names: tuple[str, ...], forms: tuple[str, ...]) -> Sequence[tuple[int, int]] | None:
    """The span of each of `forms` (plain tags, e.g. `<pirate>`) when the text's construct tags are exactly
    those, in that order; else None, and the caller runs `scan_tags`.

    The common case, a well-formed completion, found without the tag regex and a TagEvent per tag.
    Every other `<` must not start a tag (the tag regex is tried there); after `_MAX_OTHER_LT` of
    them it gives up, so the work wasted before the fallback is small.
    """
    whole = _plain_pattern(forms).fullmatch(text)
    if whole is not None:
        return whole.regs[1:]
    head = _short_pattern(names).match
    spans: list[tuple[int, int]] = []
    k, others = 0, 0
    pos = text.find("<")
    while pos >= 0:
        if k < len(forms) and text.startswith(forms[k], pos):
            spans.append((pos, pos + len(forms[k])))
            pos += len(forms[k])
            k += 1
        elif others == _MAX_OTHER_LT or head(text, pos) is not None:
            return None  # a tag out of place, a duplicate or a variant: scan_tags and the tree builder judge it
        else:
            others += 1
            pos += 1
        pos = text.find("<", pos)
    return spans if k == len(forms) else None


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
