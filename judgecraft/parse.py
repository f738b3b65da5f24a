"""One tolerant pass over a completion: the construct's tags, its sections and the final answer.

Models write constructs badly in every way a regex-per-rule reward misses: upper-case tags,
attributes, spaces inside the brackets, unclosed sections, tags in the wrong place, stray `<` and
`&` in the maths, the construct leaking into the answer. `parse` scans the text once for the
construct's own tag names, rebuilds the tree the way a forgiving HTML parser would (an opening tag
implicitly closes open siblings), and records every deviation so that each score reads the same
`Parsed` and no component re-scans the text. Strict XML well-formedness (lxml, entities and
network off) is computed only when asked for. A construct written plainly (each tag once, as
`<name>`, in order: what a trained model writes) skips the tree builder: its tree is worked out
once per construct and a completion only supplies the positions of its tags.

A prefill is scored as part of the construct: when the prompt already ended with
`<competition>\\n<pirate>\\n`, the completion continues that text (otherwise every format reward
would be zero for a chat template that pre-inserts the opening tags).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import NamedTuple

from lxml import etree

from judgecraft.construct import Construct, per_construct
from judgecraft.tagscan import (  # noqa: F401 (TagEvent, detect_prefill and scan_tags are public here too)
    TagEvent,
    TagTally,
    detect_prefill,
    scan_plain,
    scan_tags,
    tag_pattern,
    tally_tags,
    variant_kind,
)
from judgecraft.text import has_word

MAX_TREE_TAGS = 2_000  # tags placed in the section tree; past it they are only counted (no construct has that many)
_TALLY_WINDOW = 1 << 18  # characters of text whose tags past the tree are listed at once


@dataclass(slots=True)
class Section:
    """One occurrence of a construct tag and the text it encloses."""

    name: str
    open_start: int  # where its opening tag begins
    start: int  # content span (after the opening tag, before the closing one)
    end: int
    close_end: int  # where its closing tag ends (== end when it was never closed)
    parent: str | None  # the section it actually sits in
    closed: bool  # ended by its own closing tag (not implicitly)
    text: str = ""


@dataclass
class Parsed:
    """Everything the scores need to know about one completion's construct."""

    text: str  # prefill + completion
    prefill_len: int
    construct: Construct
    sections: dict[str, list[Section]]
    missing: list[str]  # required tags that never appear
    duplicates: dict[str, int]  # tag -> extra occurrences
    misnested: list[str]  # tags whose first occurrence sits under the wrong parent
    unclosed: list[str]  # tags whose first occurrence is never explicitly closed
    out_of_order: list[str]  # tags whose first occurrence breaks the construct's order
    stray_closes: list[str]  # closing tags with nothing open to close
    variants: list[str]  # format variations seen: case, attributes, whitespace, self-closing
    preamble: str  # text before the root opens
    interstitial: str  # text inside pure containers but outside their child sections
    final_answer: str
    final_answer_start: int
    leaked: list[str] = field(default_factory=list)  # construct tags inside the final answer
    # section (or "final_answer") -> characters left unscored; "tags" -> tags past MAX_TREE_TAGS, counted only
    cut: dict[str, int] = field(default_factory=dict)

    def section(self, name: str) -> Section | None:
        found = self.sections.get(name)
        return found[0] if found else None

    def section_text(self, name: str) -> str:
        sec = self.section(name)
        return sec.text if sec else ""

    @property
    def completion(self) -> str:
        return self.text[self.prefill_len :]

    @property
    def present(self) -> list[str]:
        return [t for t in self.construct.tag_names if t in self.sections]

    @cached_property
    def events(self) -> list[TagEvent]:
        """The construct tags in the text, in order (the first MAX_TREE_TAGS).

        Scanned again when first read: only `explain` and the strict XML check read them, so the
        scores do not pay for an object per tag.
        """
        return scan_tags(self.text, self.construct, MAX_TREE_TAGS)

    @cached_property
    def xml_error(self) -> str | None:
        """None when the construct region is well-formed XML, else lxml's complaint."""
        return strict_xml_error(self)

    @property
    def well_formed(self) -> bool:
        return self.xml_error is None


def parse(completion: str, construct: Construct, prefill: str = "", max_section_chars: int | None = None) -> Parsed:
    """Parse a completion (continuing `prefill`, if any) into a `Parsed`.

    With `max_section_chars`, each section's text and the final answer keep at most that many
    characters (the first and last halves: openings and conclusions are what the scores read), so
    the cost of scoring is bounded whatever the model wrote; `Parsed.cut` says what was left out.

    >>> from judgecraft.construct import load_construct
    >>> think = parse("<Think>2 + 2 = 4</think> The answer is 4.", load_construct("think"))
    >>> think.section_text("think"), think.final_answer, think.variants
    ('2 + 2 = 4', 'The answer is 4.', ['case'])
    >>> pkv = parse("Arr, 4!</pirate></competition> 4", load_construct("pkv"), prefill="<competition>\\n<pirate>\\n")
    >>> pkv.section_text("pirate"), pkv.missing, pkv.final_answer
    ('\\nArr, 4!', ['knight', 'viking', 'result', 'winner'], '4')
    """
    text = (prefill or "") + completion
    prefill_len = len(prefill or "")
    plan = _plain_plan(construct)
    if plan is not None:
        spans = scan_plain(text, construct.tag_names, plan.forms)
        if spans is not None:
            return _parse_plain(text, construct, plan, spans, prefill_len, max_section_chars)
    return _parse_tree(text, construct, prefill_len, max_section_chars)


def _parse_tree(text: str, construct: Construct, prefill_len: int, max_section_chars: int | None) -> Parsed:
    """The general path: every tag found by the regex, the tree rebuilt tag by tag, every deviation recorded."""
    events = scan_tags(text, construct, MAX_TREE_TAGS)
    builder = _TreeBuilder(text, construct)
    for ev in events:
        builder.feed(ev)
    builder.finish()
    if len(events) == MAX_TREE_TAGS:
        builder.tally_rest(events[-1].end)
    return builder.result(events, prefill_len, max_section_chars)


class _Plain(NamedTuple):
    """The construct written plainly: each tag once, as `<name>`/`</name>`, nested and in the construct's order.

    What a trained model writes nearly always. Its tree depends only on the order of the tags, so
    it is worked out once per construct (`_plain_plan`) and a completion only fills in positions.
    """

    forms: tuple[str, ...]  # the tags as written, in order
    names: tuple[str, ...]  # and their names
    closing: tuple[bool, ...]
    sections: tuple[tuple[str, int, int, str | None], ...]  # name, index of its opening and closing tag, parent
    gaps: tuple[tuple[int, int], ...]  # (i, j): text from the end of tag i to the start of tag j is interstitial


@per_construct
def _plain_plan(c: Construct) -> _Plain | None:
    """The construct's plain form, or None when the general path must judge even that (checked once, below)."""
    order: list[tuple[str, bool]] = []  # depth first from the root, children in the construct's order
    todo = [(c.root, False)]
    while todo and len(order) <= 2 * len(c.tags):
        name, closing = todo.pop()
        order.append((name, closing))
        if not closing:
            todo.append((name, True))
            todo.extend((kid, False) for kid in reversed(c.children(name)))
    if todo or len(order) >= MAX_TREE_TAGS:
        return None
    opening = {name: i for i, (name, closing) in enumerate(order) if not closing}
    closing_at = {name: i for i, (name, closing) in enumerate(order) if closing}
    parents = {name: c.tag(name).parent for name in opening}
    sections = tuple((name, i, closing_at[name], parents[name]) for name, i in opening.items())
    gaps: list[tuple[int, int]] = []
    for tag in c.tags:
        kids = c.children(tag.name)
        if kids and not tag.mixed and tag.name in opening:
            bounds = (
                [opening[tag.name]] + [i for k in kids for i in (opening[k], closing_at[k])] + [closing_at[tag.name]]
            )
            gaps.extend(zip(bounds[::2], bounds[1::2], strict=True))
    plan = _Plain(
        forms=tuple(f"</{name}>" if closing else f"<{name}>" for name, closing in order),
        names=tuple(name for name, _ in order),
        closing=tuple(closing for _, closing in order),
        sections=sections,
        gaps=tuple(gaps),
    )
    # The plan must say what the general path says: checked on a sample with text around every tag.
    sample = " p " + " x ".join(plan.forms) + " a "
    spans = scan_plain(sample, c.tag_names, plan.forms)
    if spans is None:
        return None
    for limit in (None, 2):
        plain, tree = _parse_plain(sample, c, plan, spans, 0, limit), _parse_tree(sample, c, 0, limit)
        if any(getattr(plain, f.name) != getattr(tree, f.name) for f in fields(Parsed)):
            return None
    return plan


def _parse_plain(
    text: str, c: Construct, plan: _Plain, spans: Sequence[tuple[int, int]], prefill_len: int, limit: int | None
) -> Parsed:
    """`_parse_tree` for a plainly written construct: the plan's tree at these tag spans, no deviations."""
    sections: dict[str, list[Section]] = {}
    cut: dict[str, int] = {}
    for name, i, j, parent in plan.sections:
        (open_start, start), (end, close_end) = spans[i], spans[j]
        if limit is None or end - start <= limit:  # `bounded`, without a call for the common case
            body = text[start:end]
        else:
            body, cut[name] = bounded(text, start, end, limit)
        sections[name] = [Section(name, open_start, start, end, close_end, parent, True, body)]
    answer_start = len(text) if c.final_answer == "none" else spans[-1][1]  # the root's closing tag is the last
    final_answer, dropped = bounded(text, answer_start, len(text), limit)
    if dropped:
        cut["final_answer"] = dropped
    pieces = [text[spans[i][1] : spans[j][0]] for i, j in plan.gaps]
    return Parsed(
        text=text,
        prefill_len=prefill_len,
        construct=c,
        sections=sections,
        missing=[],
        duplicates={},
        misnested=[],
        unclosed=[],
        out_of_order=[],
        stray_closes=[],
        variants=[],
        preamble=text[: spans[0][0]],
        interstitial="".join(p for p in pieces if p.strip()),
        final_answer=final_answer.strip(),
        final_answer_start=answer_start,
        leaked=[],
        cut=cut,
    )


def bounded(text: str, start: int, end: int, limit: int | None) -> tuple[str, int]:
    """text[start:end], or its first and last limit/2 characters when longer; and how many were dropped."""
    size = end - start
    if limit is None or size <= limit:
        return text[start:end], 0
    head = limit - limit // 2
    return text[start : start + head] + "\n" + text[end - limit // 2 : end], size - limit


class _TreeBuilder:
    """Rebuilds the section tree from tag events, forgiving the way HTML parsers are."""

    def __init__(self, text: str, construct: Construct):
        self.text, self.c = text, construct
        self.stack: list[Section] = []
        self.sections: dict[str, list[Section]] = {}
        self.stray_closes: list[str] = []
        self.opens: dict[str, int] = {}
        self.closes: dict[str, int] = {}
        self.first_open_pos: dict[str, int] = {}
        self.root_close: TagEvent | None = None
        self.last_close_end = -1
        self.variants: set[str] = set()
        self.rest_leaks: set[str] = set()  # tags past MAX_TREE_TAGS that sit in the final answer
        self.rest_count = 0

    def feed(self, ev: TagEvent) -> None:
        if not ev.exact:
            self.variants.add(variant_kind(self.text[ev.start : ev.end]))
        if ev.closing:
            self._close(ev)
        else:
            self._open(ev)

    def _open(self, ev: TagEvent) -> None:
        c = self.c
        self.opens[ev.name] = self.opens.get(ev.name, 0) + 1
        self.first_open_pos.setdefault(ev.name, ev.start)
        open_names = [s.name for s in self.stack]
        # An opening tag implicitly ends whatever sits above its expected parent (an unclosed sibling).
        for ancestor in c.ancestors(ev.name):
            if ancestor in open_names:
                self._pop_to(open_names.index(ancestor) + 1, ev.start)
                break
        else:
            if ev.name in open_names:  # re-opening a tag that is still open: end the old one there
                self._pop_to(open_names.index(ev.name), ev.start)
        parent = self.stack[-1].name if self.stack else None
        section = Section(ev.name, ev.start, ev.end, ev.end, ev.end, parent, closed=False)
        self.sections.setdefault(ev.name, []).append(section)
        if ev.self_closing:
            section.closed = True
            self.closes[ev.name] = self.closes.get(ev.name, 0) + 1
            self.last_close_end = ev.end
        else:
            self.stack.append(section)

    def _close(self, ev: TagEvent) -> None:
        self.closes[ev.name] = self.closes.get(ev.name, 0) + 1
        open_names = [s.name for s in self.stack]
        if ev.name not in open_names:
            self.stray_closes.append(ev.name)
            self.last_close_end = ev.end  # "...</think> answer" with the opening tag in the prompt
            return
        index = len(open_names) - 1 - open_names[::-1].index(ev.name)
        self._pop_to(index + 1, ev.start)
        section = self.stack.pop()
        section.end, section.close_end, section.closed = ev.start, ev.end, True
        self.last_close_end = ev.end
        if ev.name == self.c.root and self.root_close is None:
            self.root_close = ev

    def tally_rest(self, position: int) -> None:
        """Tags past MAX_TREE_TAGS: counted (duplicates), and where the final answer starts (the root's
        closing tag, else the last closing tag) with the tags after it (leaks), without building the tree.

        Counted per distinct name as written (a hostile text repeats a few names thousands of times),
        one window of the text at a time: a window ends just before a `<`, so no tag is cut, and the
        lists of one window are all that is held (a 10 MB flood of tags would otherwise keep a million
        names alive, and time per tag would grow with the size of the text).
        """
        text, names = self.text, self.c.tag_names
        after_close: set[str] = set()  # names written since the last closing tag
        after_root: set[str] = set()  # names written since the root's closing tag
        root_was_closed = self.root_close is not None
        while position < len(text):
            end = text.find("<", position + _TALLY_WINDOW)
            end = len(text) if end < 0 else end
            self._tally_window(tally_tags(text, names, position, end), after_close, after_root, root_was_closed)
            root_was_closed = self.root_close is not None
            position = end
        self.rest_leaks = {n.lower() for n in (after_root if self.root_close is not None else after_close)}

    def _tally_window(
        self, tally: TagTally, after_close: set[str], after_root: set[str], root_was_closed: bool
    ) -> None:
        """Add one window's tags to the counts, the final answer's start and the names after it."""
        written, closing = tally.written, tally.closing
        closed = Counter(written[i] for i in closing)
        for name, n in (Counter(written) - closed).items():
            key = name.lower()
            self.opens[key] = self.opens.get(key, 0) + n
        for name, n in closed.items():
            key = name.lower()
            self.closes[key] = self.closes.get(key, 0) + n
        if closing:
            self.last_close_end = tally.closing_ends[-1]
            after_close.clear()
            after_close.update(written[closing[-1] + 1 :])
        else:
            after_close.update(written)
        if root_was_closed:
            after_root.update(written)
        elif self.root_close is None:
            roots = {name for name in closed if name.lower() == self.c.root}
            first = next((k for k, i in enumerate(closing) if written[i] in roots), None)
            if first is not None:
                start, end = tally.closing_starts[first], tally.closing_ends[first]
                self.root_close = TagEvent(self.c.root, True, False, start, end, False)
                after_root.update(written[closing[first] + 1 :])
        self.rest_count += len(written)

    def _pop_to(self, depth: int, position: int) -> None:
        while len(self.stack) > depth:
            section = self.stack.pop()
            section.end = section.close_end = position

    def finish(self) -> None:
        self._pop_to(0, len(self.text))

    def result(self, events: list[TagEvent], prefill_len: int, limit: int | None = None) -> Parsed:
        c, text = self.c, self.text
        cut: dict[str, int] = {}
        for name, occurrences in self.sections.items():
            for s in occurrences:
                s.text, dropped = bounded(text, s.start, s.end, limit)
                if dropped:
                    cut[name] = cut.get(name, 0) + dropped
        sections = self.sections
        required = [t.name for t in c.tags if not t.optional]
        missing = [t for t in required if t not in sections and t not in self.closes]
        duplicates = {}
        for name in c.tag_names:
            extra = max(self.opens.get(name, 0), self.closes.get(name, 0)) - 1
            if extra > 0:
                duplicates[name] = extra
        misnested = [name for name, occ in sections.items() if occ[0].parent != _effective_parent(c, name, sections)]
        unclosed = [name for name, occ in sections.items() if not occ[0].closed]
        out_of_order = _out_of_order(c.tag_names, self.first_open_pos)

        root_open = sections.get(c.root, [None])[0]
        preamble = text[: root_open.open_start] if root_open else ""
        if c.final_answer == "none":
            answer_start = len(text)
        elif self.root_close is not None:
            answer_start = self.root_close.end
        elif self.last_close_end >= 0:
            answer_start = self.last_close_end  # root never closed: the answer follows the last closed section
        elif not events:
            answer_start = prefill_len  # no construct at all: the whole completion is the answer
        else:
            answer_start = len(text)
        leaked_names = {ev.name for ev in events if ev.start >= answer_start}
        if self.rest_count:
            cut["tags"] = self.rest_count
            if c.final_answer != "none":
                leaked_names |= self.rest_leaks
        leaked = sorted(leaked_names)
        final_answer, dropped = bounded(text, answer_start, len(text), limit)
        if dropped:
            cut["final_answer"] = dropped
        parsed = Parsed(
            text=text,
            prefill_len=prefill_len,
            construct=c,
            sections=sections,
            missing=missing,
            duplicates=duplicates,
            misnested=misnested,
            unclosed=unclosed,
            out_of_order=out_of_order,
            stray_closes=self.stray_closes,
            variants=sorted(self.variants),
            preamble=preamble,
            interstitial=_interstitial(c, sections, text),
            final_answer=final_answer.strip(),
            final_answer_start=answer_start,
            leaked=leaked,
            cut=cut,
        )
        parsed.events = events  # already scanned: kept, not scanned again when read
        return parsed


def _effective_parent(c: Construct, name: str, sections: dict[str, list[Section]]) -> str | None:
    """The nearest expected ancestor present in the text (a missing root is not held against its children)."""
    return next((a for a in c.ancestors(name) if a in sections), None)


def _out_of_order(canonical: tuple[str, ...], first_pos: dict[str, int]) -> list[str]:
    """Tags outside the longest run that appears in the canonical order (the fewest moves to fix it)."""
    present = sorted((pos, canonical.index(name), name) for name, pos in first_pos.items())
    ranks = [rank for _, rank, _ in present]
    if ranks == sorted(ranks):
        return []  # the common case: already in order
    n = len(ranks)
    best = [1] * n
    prev = [-1] * n
    for i in range(n):
        for j in range(i):
            if ranks[j] < ranks[i] and best[j] + 1 > best[i]:
                best[i], prev[i] = best[j] + 1, j
    keep: set[int] = set()
    i = max(range(n), key=best.__getitem__) if n else -1
    while i >= 0:
        keep.add(i)
        i = prev[i]
    return [present[i][2] for i in range(n) if i not in keep]


def _interstitial(c: Construct, sections: dict[str, list[Section]], text: str) -> str:
    """Text inside pure containers (tags with children that are not `mixed`) outside any child section."""
    pieces = []
    for tag in c.tags:
        kids = c.children(tag.name)
        if not kids or tag.mixed or tag.name not in sections:
            continue
        container = sections[tag.name][0]
        inner = sorted(
            (s for k in kids for s in sections.get(k, []) if container.start <= s.start <= container.end),
            key=lambda s: s.start,
        )
        cursor = container.start
        for child in inner:
            pieces.append(text[cursor : max(cursor, child.open_start)])
            cursor = max(cursor, child.close_end)
        pieces.append(text[cursor : container.end])
    return "".join(p for p in pieces if p.strip())


_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False)


def strict_xml_error(parsed: Parsed) -> str | None:
    """Check the construct region with lxml: well-formed XML, with entity expansion and network off."""
    c, text = parsed.construct, parsed.text
    root_events = [ev for ev in parsed.events if ev.name == c.root]
    opening = next((ev for ev in root_events if not ev.closing), None)
    if opening is None:
        return f"no <{c.root}> element"
    closing = next((ev for ev in root_events if ev.closing and ev.start > opening.start), None)
    region = text[opening.start : closing.end if closing else len(text)]
    try:
        etree.fromstring(region.encode("utf-8", errors="strict"), _XML_PARSER)
    except etree.XMLSyntaxError as err:
        return str(err)
    except (UnicodeEncodeError, ValueError) as err:
        return f"not encodable as XML: {err}"
    return None


WINNER_TRIM = " \t\r\n\"'`*_.!:;“”‘’()[]"  # forgiven around a winner's name: `**Pirate**.` is still the name


def winner_choice(parsed: Parsed) -> tuple[str | None, str]:
    """The persona the construct names as winner, and how cleanly: exact | with_text | none | several | missing.

    Read by the winner, alignment, judge_accuracy, judge_winner and judge_quality components.

    >>> from judgecraft.construct import load_construct
    >>> pkv = load_construct("pkv")
    >>> winner_choice(parse("<competition><result><winner>**Knight**.</winner></result></competition>", pkv))
    ('knight', 'exact')
    >>> winner_choice(parse("<competition><result><winner>knight or viking</winner></result></competition>", pkv))
    (None, 'several')
    """
    c = parsed.construct
    tag = c.winner_tag
    if tag is None or tag not in parsed.sections:
        return None, "missing"
    content = parsed.section_text(tag)
    bare = content.strip(WINNER_TRIM).lower()
    if bare in c.personas:
        return bare, "exact"
    lowered = content.lower()
    named = {name for name in c.personas if has_word(lowered, name)}
    if len(named) == 1:
        return named.pop(), "with_text"
    return None, "several" if named else "none"
