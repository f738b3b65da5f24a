"""Hypothesis strategies for reasoning constructs, to property-test reward code (yours or judgecraft's).

    from hypothesis import given
    from judgecraft import strategies as jst

    @given(jst.valid("pkv"))
    def test_well_formed_gets_full_format_reward(sample):
        assert my_format_reward([sample.text]) == [1.0]

    @given(jst.adversarial("pkv"))
    def test_never_raises(text):
        my_format_reward([text])

Every strategy works for any construct spec (a built-in name, a TOML path or a Construct): texts
are generated from its tags, nesting, personas, winner tag and final-answer rule. `valid` draws
well-formed completions, `mutated` the same with one known defect (a tag dropped, duplicated,
reordered, renamed, written in another case, leaked into the final answer, or a persona copying
another), and `adversarial` hostile text (huge and deeply nested tags, stray < and &, lone
surrogates, DOCTYPE and entity bombs, sympy bombs, code in the answer). `answer_hacks` draws a
well-formed completion whose final answer games the gold (sign flip, hedge, range, enumeration,
negation, scale, extra terms, a second boxed answer): none should earn full correctness.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import strategies as st

from judgecraft.construct import Construct, load_construct
from judgecraft.hacks import HACKS, ZERO_PROOF, hacked_answer, usable_kinds

MUTATIONS = ("drop", "duplicate", "reorder", "rename", "case", "leak", "copy")

_WORDS = (
    "we split the total into equal parts and multiply each part by the rate then add the remainders "
    "first note that every group holds the same amount so division gives the size of one group "
    "check the units carefully before comparing the two results and round only at the very end "
    "the ratio stays constant hence scaling both sides keeps the equation balanced "
    "subtract the known quantities from the sum and what is left must be the unknown value "
    "count the pieces twice once forwards once backwards and the counts agree"
).split()
_REFLECTION = ("wait, let me re-check that step.", "hmm, no, that's wrong; fixing it.", "let me verify this again.")


@dataclass(frozen=True)
class Sample:
    """A generated completion and what it is known to contain."""

    text: str
    construct: Construct = field(repr=False)
    answer: str | None  # the answer its final answer states (None when the construct has no final answer)
    winner: str | None  # the persona its winner tag names
    contents: dict[str, str] = field(repr=False)  # text inside each leaf tag (before the children of a mixed tag)
    mutation: str | None = None  # None for a well-formed sample, else "<kind>:<tag>" (e.g. "drop:knight")
    original: str | None = field(default=None, repr=False)  # a mutated sample's well-formed text before it

    @property
    def kind(self) -> str | None:
        return self.mutation.split(":", 1)[0] if self.mutation else None

    @property
    def target(self) -> str | None:
        return self.mutation.split(":", 1)[1] if self.mutation else None


# ---------------------------------------------------------------- rendering a construct


@dataclass
class _Doc:
    """A construct instance before rendering; mutations edit it rather than the text."""

    c: Construct
    contents: dict[str, str]
    final: str
    order: dict[str, list[str]] = field(default_factory=dict)  # children per tag, in written order
    dropped: set[str] = field(default_factory=set)
    duplicated: set[str] = field(default_factory=set)
    written_as: dict[str, tuple[str, str]] = field(default_factory=dict)  # tag -> (opening, closing) text

    def children(self, name: str) -> list[str]:
        return self.order.get(name, list(self.c.children(name)))

    def render(self) -> str:
        return self._element(self.c.root) + ("\n" + self.final if self.final else "")

    def _element(self, name: str) -> str:
        kids = [self._element(k) for k in self.children(name) if k not in self.dropped]
        if not self.c.children(name):
            inner = self.contents.get(name, "")
        elif self.c.tag(name).mixed:
            inner = "\n".join([self.contents.get(name, ""), *kids])
        else:
            inner = "\n".join(kids)
        if name in self.dropped:
            return inner if name == self.c.root else ""  # a dropped root leaves its children bare
        opening, closing = self.written_as.get(name, (f"<{name}>", f"</{name}>"))
        element = f"{opening}\n{inner}\n{closing}"
        return element + "\n" + element if name in self.duplicated else element


def _leaves(c: Construct) -> list[str]:
    """Tags that hold text: leaves, and mixed tags (before their children)."""
    return [t.name for t in c.tags if not c.children(t.name) or t.mixed]


def _voice_words(c: Construct, name: str) -> list[str]:
    return [w.rstrip("*") for w in c.tag(name).voice if w.rstrip("*")]


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def _doc(c: Construct, rng: random.Random, answer: str, winner: str | None, words: int) -> _Doc:
    """A well-formed instance: personas reason in their voice and reach the answer; the winner tag names one."""
    contents: dict[str, str] = {}
    for name in _leaves(c):
        tag = c.tag(name)
        if tag.winner:
            contents[name] = winner or ""
        elif tag.persona:
            voice = _voice_words(c, name)
            opener = (" ".join(rng.sample(voice, min(2, len(voice)))).capitalize() + "! ") if voice else ""
            body = ". ".join(_sentence(rng, words) for _ in range(3))
            reflect = rng.choice(_REFLECTION)
            contents[name] = f"{opener}The {name} reasons: {body}. {reflect} So the answer is {answer}."
        elif tag.reasoning:  # numbered steps, the way step-structured traces are written
            steps = [f"{i}. {_sentence(rng, words).capitalize()}." for i in range(1, 4)]
            contents[name] = "\n".join([*steps, f"4. {rng.choice(_REFLECTION).capitalize()} The result is {answer}."])
        else:
            contents[name] = f"Analysis: {_sentence(rng, words)}. The best reasoning wins."
    final = f"So the final answer is {answer}." if c.final_answer == "after_root" else ""
    return _Doc(c, contents, final)


def _sample(doc: _Doc, answer: str | None, winner: str | None, mutation: str | None = None) -> Sample:
    has_final = doc.c.final_answer == "after_root"
    return Sample(doc.render(), doc.c, answer if has_final else None, winner, dict(doc.contents), mutation)


def example_completion(construct: Any = "pkv", answer: str = "24", seed: int = 0) -> Sample:
    """One deterministic well-formed completion of a construct (no hypothesis needed to call it)."""
    c = load_construct(construct)
    rng = random.Random(seed)
    winner = c.personas[0] if c.winner_tag and c.personas else None
    return _sample(_doc(c, rng, answer, winner, words=12), answer, winner)


# ---------------------------------------------------------------- strategies


def answers() -> st.SearchStrategy[str]:
    """Plain numeric gold answers: integers and short decimals."""
    return st.one_of(
        st.integers(0, 10**6).map(str),
        st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False, allow_infinity=False).map(
            lambda d: format(d.normalize(), "f")
        ),
    )


@st.composite
def valid(draw: Any, construct: Any = "pkv", answer: st.SearchStrategy[str] | None = None) -> Sample:
    """Well-formed completions of a construct: every tag once, in order, closed; a single winner; the answer after."""
    c = load_construct(construct)
    gold = draw(answer if answer is not None else answers())
    winner = draw(st.sampled_from(c.personas)) if c.winner_tag and c.personas else None
    seed = draw(st.integers(0, 2**32 - 1))
    words = draw(st.integers(8, 40))
    doc = _doc(c, random.Random(seed), gold, winner, words)
    for tag in c.tags:  # optional tags may or may not be written
        if tag.optional and draw(st.booleans()):
            doc.dropped.add(tag.name)
    return _sample(doc, gold, winner)


def _applicable(c: Construct, kind: str) -> list[str]:
    """Tags a mutation can apply to in this construct (empty: the mutation does not apply)."""
    non_root = [t.name for t in c.tags[1:] if not t.optional]
    if kind in ("drop", "rename"):
        return [c.root, *non_root] if kind == "drop" else non_root
    if kind in ("duplicate", "case"):
        return [t.name for t in c.tags if not t.optional]
    if kind == "reorder":
        return [t.name for t in c.tags if len([k for k in c.children(t.name) if not c.tag(k).optional]) >= 2]
    if kind == "leak":
        return list(c.tag_names) if c.final_answer == "after_root" else []
    if kind == "copy":
        return list(c.personas[1:])
    raise ValueError(f"unknown mutation {kind!r}; known: {MUTATIONS}")


def mutations_for(construct: Any) -> list[str]:
    """The mutation kinds that apply to a construct (reorder needs siblings, copy needs two personas, ...)."""
    c = load_construct(construct)
    return [k for k in MUTATIONS if _applicable(c, k)]


@st.composite
def mutated(draw: Any, construct: Any = "pkv", kinds: tuple[str, ...] | None = None) -> Sample:
    """A well-formed completion with exactly one known defect; `sample.mutation` says which ("drop:knight").

    drop: a tag and its content are gone. duplicate: a section appears twice. reorder: two sibling
    sections swap places. rename: a tag is written under another name. case: a tag is upper-cased.
    leak: a construct tag appears in the final answer. copy: a persona repeats an earlier one.
    """
    c = load_construct(construct)
    base = draw(valid(c))
    usable = [k for k in (kinds or MUTATIONS) if _applicable(c, k)]
    if not usable:
        raise ValueError(f"none of the mutations {kinds or MUTATIONS} applies to construct {c.name!r}")
    kind = draw(st.sampled_from(usable))
    target = draw(st.sampled_from(_applicable(c, kind)))
    doc = _Doc(c, dict(base.contents), _final_of(base))
    if kind == "drop":
        doc.dropped.add(target)
    elif kind == "duplicate":
        doc.duplicated.add(target)
    elif kind == "rename":
        doc.written_as[target] = (f"<{target}_renamed>", f"</{target}_renamed>")
    elif kind == "case":
        doc.written_as[target] = (f"<{target.upper()}>", f"</{target.upper()}>")
    elif kind == "reorder":
        kids = [k for k in c.children(target) if not c.tag(k).optional]
        i = draw(st.integers(0, len(kids) - 2))
        kids[i], kids[i + 1] = kids[i + 1], kids[i]
        doc.order[target] = kids
    elif kind == "leak":
        doc.final = f"{doc.final} <{target}>"
    elif kind == "copy":
        earlier = c.personas[: c.personas.index(target)]
        source = draw(st.sampled_from(earlier))
        doc.contents[target] = base.contents[source].replace(source, target)
    return replace(_sample(doc, base.answer, base.winner), mutation=f"{kind}:{target}", original=base.text)


_HACK_PHRASES = ("So the final answer is {}.", "Final answer: {}", "The answer is {}.", "Therefore, the answer is {}.")


@st.composite
def answer_hacks(
    draw: Any, gold: str | None = None, kinds: tuple[str, ...] | None = None, construct: Any = "pkv"
) -> Sample:
    """A well-formed completion whose personas reach the gold but whose final answer is a hack of it.

    `sample.answer` is the gold being gamed and `sample.mutation` says which hack ("hack:hedge"); the
    kinds are `HACKS` (see judgecraft.hacks). None of them should earn full correctness.
    """
    c = load_construct(construct)
    if c.final_answer != "after_root":
        raise ValueError(f"answer hacks need a final answer after the construct; {c.name!r} has none")
    kind = draw(st.sampled_from(usable_kinds(gold, kinds)))
    if gold is None:
        gold = draw(answers().filter(lambda a: float(a) != 0) if kind in ZERO_PROOF else answers())
    base = draw(valid(c, answer=st.just(gold)))
    hack = hacked_answer(gold, kind, random.Random(draw(st.integers(0, 2**32 - 1))))
    doc = _Doc(c, dict(base.contents), draw(st.sampled_from(_HACK_PHRASES)).format(hack))
    return replace(_sample(doc, gold, base.winner), mutation=f"hack:{kind}", original=base.text)


def _final_of(sample: Sample) -> str:
    if sample.construct.final_answer != "after_root":
        return ""
    closing = f"</{sample.construct.root}>"
    return sample.text.rsplit(closing, 1)[1].lstrip("\n")


# ---------------------------------------------------------------- adversarial text

_BOMBS = (
    "\\boxed{9^{9^{9^{9^{9}}}}}",
    "The answer is 10**10**10**10.",
    "\\boxed{(10^{100})!}",
    "\\boxed{x^{99999999} - x^{99999998}}",
    "\\boxed{\\frac{1}{0}}",
    "\\boxed{" * 300 + "1" + "}" * 300,
    "\\boxed{\\sum_{n=1}^{10^{12}} n^{n}}",
    "The answer is 9" + "9" * 5000 + ".",
    "\\boxed{" + "(" * 2000 + "1" + ")" * 2000 + "}",
)
_CODE = (
    "\\boxed{__import__('os').system('echo pwned')}",
    "The answer is __import__('subprocess').call(['sh'])",
    "The answer is eval('1+1').",
    "\\boxed{exec('import os')}",
    "The answer is (lambda: 0)()",
    "\\boxed{().__class__.__bases__[0].__subclasses__()}",
)
_XML = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>',
    '<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>&xxe;',
    '<!DOCTYPE foo [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>',
    "&lol3;&lol3;&xxe;",
    "<![CDATA[ </competition> ]]>",
    "<!-- unclosed comment",
    "<?php echo 1; ?>",
)
_STRAY = ("<", ">", "&", "</", "<<", ">>", "&&", "&amp;", "&#0;", "&#x110000;", "< 3", "x<y", "a & b", "</>", "<>")
_ODD = ("\x00", "\ud800", "\udfff", "\ufeff", "\u202e", "\u200b", "\r\n", "\r", "\x1b[31m", "\uffff", "🏴‍☠️")


def _tag_forms(c: Construct) -> st.SearchStrategy[str]:
    name = st.sampled_from(c.tag_names)
    return st.one_of(
        name.map(lambda n: f"<{n}>"),
        name.map(lambda n: f"</{n}>"),
        name.map(lambda n: f"<{n}/>"),
        name.map(lambda n: f"< {n.upper()} >"),
        name.map(lambda n: f'<{n} id="1" class=x>'),
        name.map(lambda n: f"<{n}"),  # never closed
    )


@st.composite
def _huge_tag(draw: Any, c: Construct) -> str:
    name = draw(st.sampled_from(c.tag_names))
    n = draw(st.integers(100, 20_000))
    return f"<{name} " + "a=1 " * n + ">"


@st.composite
def _nested(draw: Any, c: Construct) -> str:
    name = draw(st.sampled_from(c.tag_names))
    depth = draw(st.integers(10, 3000))
    closed = draw(st.booleans())
    return f"<{name}>" * depth + "deep" + (f"</{name}>" * depth if closed else "")


@st.composite
def _inject(draw: Any, c: Construct, fragments: st.SearchStrategy[str]) -> str:
    """A well-formed completion with hostile fragments inserted at random places."""
    base = draw(valid(c)).text
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(base)))
        base = base[:at] + draw(fragments) + base[at:]
    return base


def adversarial(construct: Any = "pkv") -> st.SearchStrategy[str]:
    """Hostile completions: what a reward function must survive without raising or hanging."""
    c = load_construct(construct)
    fragment = st.one_of(
        st.sampled_from(_BOMBS + _CODE + _XML + _STRAY + _ODD),
        _tag_forms(c),
        st.text(max_size=50),
    )
    return st.one_of(
        _huge_tag(c),
        _nested(c),
        st.lists(fragment, max_size=40).map("".join),
        _inject(c, fragment),
        st.sampled_from(_BOMBS + _CODE).map(lambda bomb: _final_after(c, bomb)),
        st.sampled_from(_XML).map(lambda x: x + example_completion(c).text),
        st.sampled_from(("", " ", "\n" * 1000, "<" * 10_000, "&" * 10_000, "\ud800" * 100)),
        st.text(),
    )


def _final_after(c: Construct, tail: str) -> str:
    """A well-formed construct whose final answer is `tail` (a bomb or code)."""
    text = example_completion(c).text
    if c.final_answer != "after_root":
        return text + tail
    closing = f"</{c.root}>"
    return text.rsplit(closing, 1)[0] + closing + "\n" + tail


def completions(construct: Any = "pkv") -> st.SearchStrategy[str]:
    """Any completion text: well-formed, mutated or adversarial (for "never raises, stays in range" tests)."""
    return st.one_of(valid(construct).map(lambda s: s.text), mutated(construct).map(lambda s: s.text),
                     adversarial(construct))  # fmt: skip


__all__ = [
    "HACKS",
    "MUTATIONS",
    "Sample",
    "adversarial",
    "answer_hacks",
    "answers",
    "completions",
    "example_completion",
    "mutated",
    "mutations_for",
    "valid",
]
