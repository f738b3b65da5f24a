"""Reflection's word look-ups give what the substring searches they stand in for give.

When a text's words are all ASCII letters and digits, a marker or phrase whose whole words are not
among them is skipped without searching the text (`reflection._whole_words`). These tests compare
that path with the plain one on generated texts rich in what the boundaries turn on: '_', control
characters that do not split words, non-ASCII letters, punctuation inside markers.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from judgecraft import load_construct
from judgecraft.scores import reflection
from judgecraft.text import ascii_alnum_text, distinct_words_with_prefixes, words

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_PIECES = [
    *("wait", "hold on", "hmm", "hm", "actually", "let me re-check", "let's verify", "no, that's wrong"),
    *("no that is wrong", "i made a mistake", "my mistake", "oops", "on second thought", "correction"),
    *("to double-check", "sanity check", "that can't be right", "good sir", "by the gods", "me hearties"),
    *("nox", "no x", "no,x", "no-x", "no,-x", "ab-x", "ab,-x", "ab',-x", "abx"),
    *("yo ho", "'tis", "a-b", "1,2", "x", "2", " ", "  ", "\n", ".", ",", "'", "-", "_", "\x01", "\x7f", "é", "’"),
]
texts = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=3)), max_size=40).map("".join)
ascii_texts = st.lists(st.sampled_from([p for p in _PIECES if p.isascii()]), max_size=40).map("".join)

# Markers of odd shapes: a quantifier after the first word, a top-level alternation, a leading
# apostrophe, '_', a control character, a non-ASCII word, a hyphen and a comma between words.
_ODD_MARKERS = [
    r"\bno,? x",
    r"\bno,? *x",
    r"\bno-? ?x",
    r"\bab,?-{1}x",
    r"\bab'?,?-x",
    r"wait|hold",
    r"\b'tis\b",
    r"\b_a b",
    r"x\x01",
    r"\bé\b",
    r"\ba-b\b",
    r"\b1,2",
    r"\bmy\b",
    r"",
    r"\bgood sir",
]
_ODD_LEXICON = ("good sir", "by the god*", "a_b c", "é x", "x\x01 y", "yo ho*", "'tis x", "a-b c", "x *", " *")


def ascii_alnum_words(distinct: set[str]) -> bool:
    """The condition the fast paths need, read off the words themselves (the oracle for
    `text.ascii_alnum_text`): every word is ASCII letters and digits."""
    joined = "".join(distinct)
    return joined.isascii() and joined.encode("ascii").isalnum()


def _split(text: str) -> tuple[str, list[str], set[str], bool]:
    lowered = text.lower()
    tokens = words(lowered)
    distinct = set(tokens)
    return lowered, tokens, distinct, ascii_alnum_words(distinct)


@SETTINGS
@given(st.one_of(texts, ascii_texts), st.booleans())
def test_self_correction_by_word_look_ups_equals_the_substring_search(text, odd):
    params = dict(reflection.DEFAULTS)
    if odd:
        params["markers"] = [*params["markers"], *_ODD_MARKERS]
    lowered, tokens, distinct, plain = _split(text)
    if plain:
        fast = reflection.self_correction(lowered, len(tokens), params, distinct)
        assert fast == reflection.self_correction(lowered, len(tokens), params)
        index = reflection._marker_index(tuple(params["markers"]))
        assert reflection._marker_hits(lowered, index, distinct) == reflection._marker_hits(lowered, index)


@SETTINGS
@given(st.one_of(texts, ascii_texts))
def test_voice_by_word_look_ups_equals_the_substring_search(text):
    pkv = load_construct("pkv")
    lowered, tokens, distinct, plain = _split(text)
    if plain:
        for lexicon in (*(pkv.tag(name).voice for name in pkv.personas), _ODD_LEXICON):
            fast = reflection.voice(lowered, tokens, lexicon, reflection.DEFAULTS, distinct, None, plain)
            assert fast == reflection.voice(lowered, tokens, lexicon, reflection.DEFAULTS)


def test_the_word_look_ups_are_taken_only_for_ascii_letters_and_digits():
    plain = "wait, let me re-check: 2 + 2 = 4. hold on_ here"
    assert ascii_alnum_words(set(words(plain))) and ascii_alnum_text(plain)
    for text in ("wait\x01 here", "café wait", "wait x\x7f", ""):
        assert not ascii_alnum_words(set(words(text)))
        assert not ascii_alnum_text(text) or not words(text)  # a text without words passes: nothing to look up


@SETTINGS
@given(st.one_of(texts, ascii_texts, st.text()))
def test_plain_text_has_plain_words(text):
    """`ascii_alnum_text`, read from the text, passes only texts whose words pass `ascii_alnum_words` (or
    that have none); on ASCII text the two agree."""
    lowered = text.lower()
    tokens = words(lowered)
    plain_words = not tokens or ascii_alnum_words(set(tokens))
    if ascii_alnum_text(lowered):
        assert plain_words
    if lowered.isascii():
        assert ascii_alnum_text(lowered) == plain_words


def test_whole_words_of_markers_and_phrases():
    patterns = (r"\bwait\b", r"\bhmm+\b", r"\bno,? that", r"\bno,? *that", r"\blet (?:me|us)", r"\bon second")
    markers = reflection._marker_patterns(patterns)
    assert [sorted(m.words) for m in markers] == [["wait"], [], ["no"], [], ["let"], ["on"]]
    phrases = reflection._lexicon(("by the god*", "good sir", "x *"))[2]
    assert [sorted(whole) for _, _, whole in phrases] == [["by", "the"], ["good", "sir"], ["x"]]


@SETTINGS
@given(
    st.lists(
        st.sampled_from(["arr", "arrr", "matey", "x", "carry", "arr-arr", "odin", "sir", "good sir", "é"]), max_size=30
    ),
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0, -1.0]),
)
def test_voice_spam_equals_the_counted_share(pieces, share):
    """The substring count that settles most sections gives the spam verdict of the word-by-word count."""
    lowered = " ".join(pieces)
    tokens = words(lowered)
    params = dict(reflection.DEFAULTS, voice_spam_share=share)
    lexicon = (*load_construct("pkv").tag("pirate").voice, "good sir", "odin*")
    got = reflection.voice(lowered, tokens, lexicon, params)
    exact, stems, phrases = reflection._lexicon(lexicon)[:3]
    voiced = {w for w in tokens if w in exact or w.startswith(stems)}
    occurrences = sum(w in voiced for w in tokens)
    occurrences += sum(reflection._count_phrase(lowered, phrase, starred) for phrase, starred, _ in phrases)
    assert got["spam"] == (bool(tokens) and occurrences / len(tokens) > share)


@SETTINGS
@given(
    st.one_of(texts, ascii_texts),
    st.lists(
        st.one_of(st.sampled_from(["hon", "honour", "honour", "a", "", "é", "_", "x\x01", "wa", "wait"]), st.text()),
        max_size=8,
    ),
)
def test_words_with_prefixes_equal_the_alternation_over_joined_words(text, prefixes):
    """Prefixes that are prefixes of each other, repeated, empty, non-ASCII or holding white space: the
    substring searches find the words the one regex over the joined words found, in the same order."""
    distinct = dict.fromkeys(words(text.lower()))
    usable = [re.escape(p) for p in prefixes if not any(map(str.isspace, p))]
    slow = re.findall(" ((?:" + "|".join(usable) + ")[^ ]*)", " " + " ".join(distinct)) if usable else []
    assert distinct_words_with_prefixes(distinct, tuple(prefixes)) == slow
