"""Fast paths give exactly what the slow path they replace gives, on many generated inputs.

Each fast path is compared with the straightforward version it stands in for (a regex, or every
rule in turn), so a change that makes a score faster can never change a reward.
"""

from __future__ import annotations

import importlib
import random
import re
import string
from collections import Counter
from fractions import Fraction
from itertools import chain

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from judgecraft import answer, extraction, load_construct, spans
from judgecraft import numbers as _numbers
from judgecraft import text as text_module
from judgecraft.numbers import Number, _general_value, numbers_in, token_value
from judgecraft.parse import _TreeBuilder
from judgecraft.scores import coherence, originality, reflection
from judgecraft.scores.base import voice_stems
from judgecraft.spans import _read_span, read_span
from judgecraft.tagscan import TagEvent, TagTally, scan_tags, tag_pattern, tally_tags
from judgecraft.text import has_word, sentences, words

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Texts rich in the characters the boundaries turn on: letters of several scripts, digits and
# numerals, '_', spaces, punctuation, and the pieces of the phrases looked for.
_PIECES = ["good sir", "good", "sir", "by the god", "ho ho", "yo ho", " ", "_", "-", "'", "é", "٣", "²", "x", "\n"]
texts = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=4)), max_size=30).map("".join)
phrases = st.one_of(
    st.sampled_from(["good sir", "by the god", "ho ho", "yo ho", "a a"]), st.text(min_size=1, max_size=6)
)


def _regex_count(lowered: str, phrase: str, starred: bool) -> int:
    """The slow path: the look-behind regex `_count_phrase` replaces."""
    pattern = re.compile(r"(?<!\w)" + re.escape(phrase) + (r"\w*" if starred else "") + r"(?!\w)")
    return sum(1 for _ in pattern.finditer(lowered))


@SETTINGS
@given(texts, phrases, st.booleans())
def test_phrase_count_equals_the_regex(text, phrase, starred):
    assert reflection._count_phrase(text, phrase, starred) == _regex_count(text, phrase, starred)


def test_phrase_count_on_overlapping_and_bounded_occurrences():
    for text, phrase in [("ho ho ho ho", "ho ho"), ("xho ho ho", "ho ho"), ("good sirs, good sir_", "good sir")]:
        for starred in (False, True):
            assert reflection._count_phrase(text, phrase, starred) == _regex_count(text, phrase, starred)


@SETTINGS
@given(texts, st.one_of(phrases, st.sampled_from(["pirate", "knight", "viking", "é", "_"])))
def test_has_word_equals_the_look_behind_regex(text, word):
    """winner_choice's word test, by str.find, says what the look-behind regex said."""
    edges = ("", " ", "_", "3", "٣", "²", "é", "-")
    around = [f"{text} {word}"] + [f"{a}{word}{b}" for a in edges for b in edges]
    for lowered in (text.lower(), *(t.lower() for t in around)):
        expected = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", lowered) is not None
        assert has_word(lowered, word) == expected


stems = st.lists(st.one_of(st.sampled_from(["arr", "odin", "thor", "", "é", "_a"]), st.text(max_size=3)), max_size=6)


@SETTINGS
@given(texts, stems)
def test_stem_words_equal_the_regex_over_joined_words(text, stem_list):
    """Words that start with a stem, by str.startswith, are those the joined-words regex found."""
    stem_tuple = tuple(s for s in stem_list if " " not in s)  # lexicon stems never hold a space
    counts = Counter(words(text.lower()))
    fast = text_module.distinct_words_with_prefixes(counts, stem_tuple)
    slow = (
        re.compile(r"(?<!\S)(?:" + "|".join(map(re.escape, stem_tuple)) + r")\S*").findall(" ".join(counts))
        if stem_tuple
        else []
    )
    assert fast == slow


@SETTINGS
@given(texts)
def test_voice_of_every_persona_is_unchanged_on_generated_text(text):
    """The whole voice measure against a reference built from the regexes it used to run."""
    pkv = load_construct("pkv")
    params = reflection.DEFAULTS
    for name in pkv.personas:
        lexicon = pkv.tag(name).voice
        for lowered in (text.lower(), text.lower() + " arrr matey good sir by the gods odin's skål"):
            for lex in (lexicon, (*lexicon, "*", "by the god*")):  # an empty stem and a starred phrase too
                got = reflection.voice(lowered, words(lowered), lex, params)
                assert got == _reference_voice(lowered, words(lowered), lex, params)


@SETTINGS
@given(texts)
def test_voice_from_every_personas_stem_words_is_unchanged(text):
    """Reflection picks a persona's stem words out of every persona's (Context.voice_stemmed): same voice."""
    pkv = load_construct("pkv")
    every_stem = voice_stems(pkv)
    for name in pkv.personas:
        lexicon = pkv.tag(name).voice
        for lowered in (text.lower(), text.lower() + " arrr matey good sir by the gods odin's skål thor raid"):
            tokens = words(lowered)
            distinct = set(tokens)
            shared = text_module.distinct_words_with_prefixes(distinct, every_stem)
            stemmed = [w for w in shared if w.startswith(reflection._lexicon(lexicon)[1])]
            got = reflection.voice(lowered, tokens, lexicon, reflection.DEFAULTS, distinct, stemmed)
            assert got == _reference_voice(lowered, tokens, lexicon, reflection.DEFAULTS)


@SETTINGS
@given(
    st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "é"]), max_size=60),
    st.sets(st.sampled_from("abcdefghijkxyz")),
)
def test_count_among_equals_the_counter(tokens, found):
    """Voice words counted one by one (a few) or by set look-ups (many) give what a Counter gives."""
    counts = Counter(tokens)
    assert reflection._count_among(tokens, found) == sum(counts[w] for w in found)


@SETTINGS
@given(texts)
def test_originality_persona_words_from_the_shared_stem_words_are_unchanged(text):
    """Originality's persona words taken from Context.voice_stemmed are those its own prefixes find."""
    pkv = load_construct("pkv")
    vocab, shared = originality._vocabulary(pkv)
    assert shared
    for lowered in (text.lower(), text.lower() + " arrr matey hark odin's thor raid chivalry"):
        distinct = set(words(lowered))
        drop = distinct & vocab[0]
        drop.update(text_module.distinct_words_with_prefixes(distinct, voice_stems(pkv)))
        assert drop == originality.persona_words(distinct, vocab)


def _reference_voice(lowered: str, tokens: list[str], lexicon: tuple[str, ...], p: dict) -> dict:
    exact = frozenset(w.strip("'") for w in lexicon if " " not in w and not w.endswith("*"))
    stem_tuple = tuple(w[:-1] for w in lexicon if w.endswith("*") and " " not in w)
    counts = Counter(tokens)
    used = sorted(counts.keys() & exact)
    stem_re = re.compile(r"(?<!\S)(?:" + "|".join(map(re.escape, stem_tuple)) + r")\S*")
    stemmed = stem_re.findall(" ".join(counts)) if stem_tuple else []
    stems_used = {stem for w in stemmed for stem in stem_tuple if w.startswith(stem)}
    used += [stem + "*" for stem in stem_tuple if stem in stems_used]
    occurrences = sum(counts[w] for w in {*used, *stemmed} if w in counts)
    for w in lexicon:
        if " " in w:
            phrase = w.rstrip("*")
            found = _regex_count(lowered, phrase, w.endswith("*")) if phrase in lowered else 0
            if found:
                used.append(phrase)
                occurrences += found
    spam = bool(tokens) and occurrences / len(tokens) > p["voice_spam_share"]
    value = 0.0 if spam else min(1.0, len(used) / p["target_voice"]) if p["target_voice"] > 0 else 1.0
    return {"value": value, "distinct": len(used), "used": sorted(used)[:12], "spam": spam}


digit_tokens = st.one_of(
    st.text(alphabet=st.characters(categories=("Nd",)), min_size=1, max_size=30),
    st.text(alphabet="0123456789²³¹", min_size=1, max_size=12),
    st.integers(0, 10**40).map(str),
    st.just("9" * 5000),  # past int()'s 4300 digits
)


@SETTINGS
@given(digit_tokens, st.sampled_from(["", " ", "\n"]))
def test_plain_digit_tokens_take_the_fast_path_with_the_same_value(token, pad):
    raw = pad + token + pad
    assert token_value(raw) == _general_value(raw.strip())


@SETTINGS
@given(
    st.one_of(
        texts,
        st.text(alphabet="0123456789²٣-−.,/%e {}\\frac", max_size=40),
        digit_tokens,
        st.just("9" * 640 + " " + "9" * 641 + " twenty-four and one hundred"),
        st.lists(
            st.sampled_from(["5", "0", "00", "9" * 640, "9" * 641, " ", "\t", "\u2003", "/", "-", "٣"]), max_size=8
        ).map("".join),  # fractions of plain digits: "5824 / 4", "5/0", "0 /00"
    )
)
def test_number_has_value_equals_value_is_not_none(text):
    """The shortcut for plain ASCII digits (no Fraction built) agrees with the value itself."""
    for number in [*numbers_in(text), *(Number(0, 0, raw, False) for raw in [*text.split(), text])]:
        assert number.has_value == (number.value is not None)


@SETTINGS
@given(
    st.lists(st.one_of(texts, st.sampled_from(["161", "161 hives", "24 or 25", "\\frac{3}{4}", "$1,2$"])), max_size=8)
)
def test_read_span_kept_reads_equal_fresh_reads(spans):
    """A span read again (from the kept reads) gives what a fresh read gives, whichever way `latex` is passed."""
    fresh = _read_span.__wrapped__
    for span in spans + spans:
        assert read_span(span) == fresh(span, None) == read_span(span, latex=None)
        assert read_span(span, latex=True) == fresh(span, True)


def _reference_digit_numbers(text: str) -> list[Number]:
    """The digit scan as first written: `_CANDIDATE_RE.search` at each step, then the same rules."""
    found, position = [], 0
    while (m := _numbers._CANDIDATE_RE.search(text, position)) is not None:
        start, raw = m.start(), m.group(0)
        position = m.end()
        before = text[start - 1] if start else " "
        if raw[0] == "." and (before.isdigit() or before == "."):
            position = start + 1
            continue
        if before.isalnum() or before == "_" or (before == "." and start >= 2 and text[start - 2].isdigit()):
            continue
        if (
            "," in raw
            and not _numbers._THOUSANDS_RE.fullmatch(raw.rstrip("%").rstrip())
            and _numbers._DECIMAL_COMMA_RE.fullmatch(raw)
        ):
            after = text[position : position + 1]
            if not after.isdigit() and after != ",":
                found.append(Number(start, position, raw, False))
                continue
        if "," in raw and not _numbers._THOUSANDS_RE.match(raw):
            offset = 0
            for piece in raw.split(","):
                if piece and piece.lstrip("-−")[:1].isdigit():
                    found.append(Number(start + offset, start + offset + len(piece), piece, False))
                offset += len(piece) + 1
            continue
        found.append(Number(start, position, raw, raw.endswith(("%", "ercent"))))
    return found


@SETTINGS
@given(st.one_of(texts, st.text(alphabet="0123456789²٣-−.,/%e {}\\frac_x", max_size=50), digit_tokens))
def test_digit_scan_equals_the_search_reference(text):
    """The digit scan with its candidate search written out finds what `_CANDIDATE_RE.search` found."""
    assert _numbers._digit_numbers(text) == _reference_digit_numbers(text)
    for position in range(len(text) + 1):  # the scan's regex finds each candidate where the plain one does
        scan, plain = _numbers._CANDIDATE_SCAN_RE.search(text, position), _numbers._CANDIDATE_RE.search(text, position)
        assert (scan and scan.span()) == (plain and plain.span())


# ---------------------------------------------------------------- answers

fraction_tokens = st.builds(
    lambda a, gap1, gap2, b: f"{a}{gap1}/{gap2}{b}",
    st.one_of(digit_tokens, st.text(alphabet="0123456789,.-e", min_size=1, max_size=6)),
    st.sampled_from(["", " ", "\u2009", "\n"]),
    st.sampled_from(["", " ", "\t"]),
    st.one_of(digit_tokens, st.sampled_from(["0", "00", "0.5", "4%", "2e3"])),
)


@SETTINGS
@given(fraction_tokens)
def test_fraction_tokens_take_the_fast_path_with_the_same_value(token):
    """'5824 / 4' read with int() has the value every rule in turn gives it (zero, long and odd digits too)."""
    assert token_value(token) == _general_value(token.strip().replace("−", "-").replace("{,}", ""))


_UNIT_WORDS = ["hives", "Hives", "m", "A", "e", "percent", "Percent", "pct", "percentage", "or", "not", "no", "be",
               "maybe", "thousand", "Thousand", "trillion", "hundred", "one", "One", "twenty", "to"]  # fmt: skip
plain_spans = st.builds(
    lambda digits, word: digits + (f" {word}" if word else ""),
    st.one_of(st.integers(0, 10**30).map(str), st.just("0007"), st.just("9" * 600), st.just("9" * 601)),
    st.one_of(st.none(), st.sampled_from(_UNIT_WORDS), st.text(alphabet="abcxyzABC", min_size=1, max_size=5)),
)


@SETTINGS
@given(st.one_of(plain_spans, texts), st.sampled_from([None, True, False]))
def test_plain_number_spans_read_as_every_rule_reads_them(span, latex):
    """'1456 hives' read by the shortcut is what every rule in turn reads (negations, hedges, scales,
    number words and percent words after the number are left to them)."""
    assert _read_span.__wrapped__(span, latex) == spans._read_whole(span, latex)


_SENTENCE_WORDS = (
    "therefore verify the count no solution none None one Twenty hundred or not at least is it Ab AB".split()
)
_SENTENCE_WORDS += ["x", "A", "ok", "ıt", " ", ",", ";", "\t", "  "]
word_sentences = st.lists(st.sampled_from(_SENTENCE_WORDS), max_size=14).map(" ".join)


@SETTINGS
@given(st.one_of(word_sentences, texts))
def test_words_only_sentences_are_never_a_conclusion(sentence):
    """The sentences `_conclusion` passes over unread are ones it would read as text (or nothing)."""
    lowered = sentence.lower()
    if extraction._WORDS_ONLY_RE.fullmatch(sentence) and _numbers.NUMBER_WORDS.isdisjoint(
        extraction._LETTERS_RE.findall(lowered)
    ):
        picked = extraction._sentence_answer(sentence, "conclusion")
        assert picked is None or picked.shape.kind == "text"


whole_numbers = st.one_of(
    st.integers(-(10**12), 10**12), st.sampled_from([0, 1, -1, 10**9, 10**9 + 1, 10**30, 10**30 + 1])
)


@SETTINGS
@given(whole_numbers, whole_numbers, st.integers(-3, 3))
def test_whole_numbers_compare_as_the_fraction_arithmetic_does(m, n, nudge):
    """`close_enough` and `_near` on whole numbers (integer arithmetic) agree with the Fraction formulas."""
    for a, b in (
        (Fraction(m), Fraction(n)),
        (Fraction(m), Fraction(m + nudge)),
        (Fraction(m * 10**9), Fraction(m * 10**9 + nudge)),
    ):
        slow_close = a == b or abs(a - b) <= Fraction(1, 10**9) * max(abs(a), abs(b), Fraction(1))
        assert _numbers.close_enough(a, b) == slow_close
        slow_near = slow_close or (max(abs(a), abs(b)) >= Fraction(1, 1000) and abs(a - b) < Fraction(1, 2 * 10**6))
        assert answer._near(a, b) == slow_near


_NOISE_PIECES = [
    "I hope it is correct",
    "ı HOPE İT ıS CORRECT",
    "I hope it ſ correct.",
    "Correct",
    "24",
    " ",
    "\n",
    ".",
]
noise_texts = st.lists(st.one_of(st.sampled_from(_NOISE_PIECES), st.text(max_size=3)), max_size=8).map("".join)


@SETTINGS
@given(noise_texts)
def test_tail_noise_guard_never_skips_a_match(text):
    """`_make` runs the 'I hope it is correct' removal only where the text says 'correct': never skips a match."""
    assert "correct" in text.lower() or extraction._TAIL_NOISE_RE.search(text) is None


_KEYWORD_PIECES = [*extraction._CONCLUSION_WORDS, *extraction._PHRASE_WORDS, "also", "reason", "answer is ", "result: "]
_KEYWORD_PIECES += ["answer 24", "final answer: ", "in the", "so", "o", "s", "thu", " ", "\n", ".", "*", "=", "24", "$"]
keyword_texts = st.lists(st.one_of(st.sampled_from(_KEYWORD_PIECES), st.text(max_size=3)), max_size=30).map("".join)


@SETTINGS
@given(keyword_texts)
def test_matches_found_from_their_first_words_equal_finditer(text):
    """The phrase and conclusion matches found where their words are equal the regex's own finditer
    (overlapping words, a word inside another, keywords run together)."""
    for pattern, first_words in (
        (extraction._PHRASE_RE, extraction._PHRASE_WORDS),
        (extraction._CONCLUSION_RE, extraction._CONCLUSION_WORDS),
    ):
        found = extraction.matches_starting_with(pattern, text, first_words)
        assert [m.span() for m in found] == [m.span() for m in pattern.finditer(text)]


_LEAD_PIECES = ["not", "NOT", "isn't", "ıSN'T", "perhaps", "perhapſ", "at least", "up to", "more than", "no less than",
                "\\neq", "\\LE", "\\geq", "<", "≥", "≠", "<=", "=", "is", "x", "24", "2.5", "(", ")", "+", "-",
                "−", "*", "/", "^", "×", "÷", "·", " ", "  ", "\t", "\n", "\u2003", "\u00a0", ".", "so"]  # fmt: skip
lead_texts = st.lists(st.one_of(st.sampled_from(_LEAD_PIECES), st.text(max_size=2)), max_size=24).map("".join)


@SETTINGS
@given(lead_texts)
def test_lead_and_arithmetic_guards_never_skip_a_match(text):
    """The cheap tests before the hedge-word and arithmetic searches in `_chain` are true wherever
    the regex would match (they only skip searches that find nothing)."""
    assert extraction._may_lead(text) or extraction._LEAD_RE.search(text) is None
    for at in range(len(text) + 1):
        left = extraction._ARITHMETIC_LEFT_RE.search(text, max(0, at - 100), at)
        assert extraction._after_operator(text, at) or left is None


@SETTINGS
@given(st.one_of(lead_texts, texts, st.text(alphabet="0123456789 -−.\\fracONETWOtwentyhundredKİı", max_size=30)))
def test_may_start_number_is_true_where_a_number_starts(text):
    """`derived_results` skips a result word unless a number may start right after it: never one that does."""
    lowered = _numbers.lower_same_length(text)
    for at in range(len(text) + 1):
        number = _numbers.first_number(text[at : at + 40])
        if number is not None and number.start == 0:
            assert _numbers.may_start_number(lowered, at)


# ---------------------------------------------------------------- tags

_TAG_BITS = [
    "<",
    ">",
    "/",
    " ",
    "\n",
    "\u2003",
    "pirate",
    "PIRATE",
    "Pirate",
    "pir",
    "competition",
    "winner",
    "a=1",
    '"',
    "x",
    "\u212a",
    "knight",
    "<<",
    "/>",
    "y" * 300,
    " " * 300,
    "/" + " " * 100,
]  # the last three run past the 256 attribute characters the tag regex reads itself
tag_texts = st.lists(st.one_of(st.sampled_from(_TAG_BITS), st.text(max_size=3)), max_size=40).map("".join)
_WHOLE_TAGS = ["<pirate>", "</pirate>", "<competition>", "</competition>", "</COMPETITION >", "<knight a=1>",
               "</knight>", "<winner/>", "</Winner>", "so 24", "<pirate " + "y" * 300 + ">",
               "</competition " + " " * 300 + ">", "</competition " + " " * 300]  # fmt: skip
tag_runs = st.lists(st.one_of(st.sampled_from(_WHOLE_TAGS), tag_texts), max_size=30).map("".join)
NAMES = load_construct("pkv").tag_names
parse_module = importlib.import_module("judgecraft.parse")  # the module: `judgecraft.parse` is also the function


def _tally_from_regex(text: str, names: tuple[str, ...], pos: int = 0) -> TagTally:
    matches = list(tag_pattern(names).finditer(text, pos))
    closing = [i for i, m in enumerate(matches) if m.group(1) is not None]
    return TagTally(
        [m.group(2) for m in matches],
        closing,
        [matches[i].start() for i in closing],
        [matches[i].end() for i in closing],
    )


@SETTINGS
@given(st.one_of(tag_texts, tag_runs), st.integers(0, 5))
def test_tally_tags_equals_the_tag_regex(text, pos):
    assert tally_tags(text, NAMES, pos) == _tally_from_regex(text, NAMES, pos)
    for names in (("a", "ab"), ("pir", "pirate")):  # names that prefix one another
        assert tally_tags(text, names) == _tally_from_regex(text, names)


def _reference_tally_rest(builder: _TreeBuilder, position: int) -> None:
    """The slow path `tally_rest` replaced: every tag in turn, through the whole-tag regex."""
    root, after_root, after_close, count = builder.c.root, set(), set(), 0
    for m in tag_pattern(builder.c.tag_names).finditer(builder.text, position):
        count += 1
        name = m.group(2).lower()
        if builder.root_close is not None:
            after_root.add(name)
        if m.group(1) is not None:
            builder.closes[name] = builder.closes.get(name, 0) + 1
            builder.last_close_end = m.end()
            after_close.clear()
            if name == root and builder.root_close is None:
                builder.root_close = TagEvent(name, True, False, m.start(), m.end(), False)
        else:
            builder.opens[name] = builder.opens.get(name, 0) + 1
            after_close.add(name)
    builder.rest_leaks = after_root if builder.root_close is not None else after_close
    builder.rest_count = count


@SETTINGS
@given(tag_runs, st.integers(0, 5), st.booleans())
def test_tally_rest_equals_the_tag_by_tag_count(text, pos, root_closed_before):
    """Past the tree cap, the counts, the final answer's start and the leaks are those of the tag-by-tag loop."""
    construct = load_construct("pkv")
    state = ("opens", "closes", "root_close", "last_close_end", "rest_leaks", "rest_count")
    builders = []
    for tally in (_TreeBuilder.tally_rest, _reference_tally_rest):
        builder = _TreeBuilder(text, construct)
        builder.opens, builder.closes, builder.last_close_end = {"pirate": 1}, {"knight": 2}, 3
        if root_closed_before:
            builder.root_close = TagEvent("competition", True, False, 0, 0, True)
        tally(builder, pos)
        builders.append({key: getattr(builder, key) for key in state})
    assert builders[0] == builders[1]


@SETTINGS
@given(tag_runs, st.integers(0, 5), st.booleans(), st.integers(1, 40))
def test_tally_rest_in_windows_equals_the_tag_by_tag_count(text, pos, root_closed_before, window):
    """Windows that end just before a `<` cut no tag: small windows give what the whole text gives."""
    construct = load_construct("pkv")
    state = ("opens", "closes", "root_close", "last_close_end", "rest_leaks", "rest_count")
    builders = []
    whole = parse_module._TALLY_WINDOW
    for tally, size in ((_TreeBuilder.tally_rest, window), (_reference_tally_rest, whole)):
        builder = _TreeBuilder(text, construct)
        if root_closed_before:
            builder.root_close = TagEvent("competition", True, False, 0, 0, True)
        parse_module._TALLY_WINDOW = size
        try:
            tally(builder, pos)
        finally:
            parse_module._TALLY_WINDOW = whole
        builders.append({key: getattr(builder, key) for key in state})
    assert builders[0] == builders[1]


@SETTINGS
@given(tag_texts, st.sampled_from([None, 0, 1, 3]))
def test_scan_tags_equals_the_regex_scan(text, limit):
    construct = load_construct("pkv")
    assert scan_tags(text, construct, limit) == _reference_scan(text, construct, limit)


def test_scan_tags_reads_a_long_tag_as_the_regex_does():
    construct = load_construct("pkv")
    for text in ("<pirate " + "a=1 " * 5000 + "/ \n>", "<pirate " + " " * 500 + "/" + " " * 500 + ">",
                 "<pirate " + "x" * 100 + " " * 100 + ">", "<pirate" + " <pirate" * 100):  # fmt: skip
        assert scan_tags(text, construct) == _reference_scan(text, construct, None)


def _reference_scan(text: str, construct, limit: int | None) -> list[TagEvent]:
    """The slow path: the whole-tag regex, each tag's text looked up and its attributes copied."""
    events = []
    plain = {f"<{n}>": (n, False) for n in construct.tag_names} | {f"</{n}>": (n, True) for n in construct.tag_names}
    for m in tag_pattern(construct.tag_names).finditer(text):
        if limit is not None and len(events) >= limit:
            break
        if m.group() in plain:
            name, closing = plain[m.group()]
            events.append(TagEvent(name, closing, False, m.start(), m.end(), True))
            continue
        slash, name, inner = m.groups()
        closing = slash is not None
        events.append(TagEvent(name.lower(), closing, not closing and inner.rstrip().endswith("/"), *m.span(), False))
    return events


_PLAIN_FILLERS = ["", " ", "\n", "x < 3", "<", "<<", "a<b", "<p", "</", "<pirate", "<Pirate>", "<pirate/>",
                  "</knight>", "<knight>", "<winner>", "< pirate>", "<pirate x=1>", "</competition>", "<competition>",
                  "< /pirate >", "<piratex>", "<result>", "the answer is 4", "é", "٣"]  # fmt: skip
_PKV_TAGS = (
    "<competition> <pirate> </pirate> <knight> </knight> <viking> </viking> <result> <winner> </winner> </result>"
)
_PLAIN_FORMS = {"pkv": (*_PKV_TAGS.split(), "</competition>"), "think": ("<think>", "</think>")}


def _everything(parsed) -> dict:
    """A Parsed's fields and its tags (scanned when first read)."""
    return {**vars(parsed), "events": parsed.events}


def _plain_with_noise(construct: str, fillers: list[str], drop: int | None) -> str:
    """The construct written plainly, with a filler before, between and after its tags (and one tag dropped)."""
    forms = [f for i, f in enumerate(_PLAIN_FORMS[construct]) if i != drop]
    pieces = [fillers[i % len(fillers)] if fillers else "" for i in range(len(forms) + 1)]
    return "".join(chain.from_iterable(zip(pieces, forms, strict=False))) + pieces[-1]


@SETTINGS
@given(
    st.sampled_from(["pkv", "think"]),
    st.lists(st.one_of(st.sampled_from(_PLAIN_FILLERS), st.text(max_size=5)), max_size=14),
    st.one_of(st.none(), st.integers(0, 12)),
    st.sampled_from(["", "<competition>\n", "<think>\n", "<competition>\n<pirate>\n"]),
    st.sampled_from([None, 2, 5, 1_000_000]),
)
def test_plain_parse_equals_the_tree_builder(construct_name, fillers, drop, prefill, limit):
    """A plainly written construct parsed from its plan gives what the general tree builder gives."""
    construct = load_construct(construct_name)
    text = _plain_with_noise(construct_name, fillers, drop)
    plan = parse_module._plain_plan(construct)
    for completion, pre in ((text, ""), (text, prefill), (text[len(prefill) :], prefill)):
        whole = pre + completion
        expected = parse_module._parse_tree(whole, construct, len(pre), limit)
        parsed = parse_module.parse(completion, construct, prefill=pre, max_section_chars=limit)
        assert _everything(parsed) == _everything(expected)
        spans = parse_module.scan_plain(whole, construct.tag_names, plan.forms)
        if spans is not None:  # the plain scan found what the tag regex finds
            tags = zip(plan.names, plan.closing, spans, strict=True)
            events = [TagEvent(name, closing, False, *span, True) for name, closing, span in tags]
            assert scan_tags(whole, construct) == events


def test_plain_parse_is_taken_and_gives_up_on_many_other_lt():
    """The plan is used for a plain construct; many stray `<` leave it to the general path, with the same result."""
    construct = load_construct("pkv")
    plan = parse_module._plain_plan(construct)
    assert plan is not None and parse_module._plain_plan(load_construct("think")) is not None
    text = _plain_with_noise("pkv", [" a ", " x < 3 "], None)
    assert parse_module.scan_plain(text, construct.tag_names, plan.forms) is not None
    crowded = text.replace("x < 3", "x < 3 " * 50)
    assert parse_module.scan_plain(crowded, construct.tag_names, plan.forms) is None
    for t in (text, crowded, text.replace("<viking>", "<Viking>"), text + "<winner>"):
        assert _everything(parse_module.parse(t, construct)) == _everything(
            parse_module._parse_tree(t, construct, 0, None)
        )


def test_a_construct_listed_out_of_tree_order_is_parsed_as_the_tree_builder_does():
    """A grandchild listed after its parent's sibling: its plain form is out of the listed order, so no plan."""
    from judgecraft.construct import construct_from_dict

    raw = {
        "name": "odd",
        "root": "a",
        "tags": [
            {"name": "a"},
            {"name": "b", "parent": "a"},
            {"name": "d", "parent": "a"},
            {"name": "c", "parent": "b"},
        ],
        "components": ["tags"],
        "stages": {"s": {"weights": {"tags": 1.0}}},
    }
    construct = construct_from_dict(raw)
    assert parse_module._plain_plan(construct) is None
    for text in ("<a><b><c>1</c></b><d>2</d></a> 3", "<a><b></b><d>2</d><c>1</c></a> 3", "<a><d>1</d></a>", "x <a> y"):
        parsed = parse_module.parse(text, construct)
        assert _everything(parsed) == _everything(parse_module._parse_tree(text, construct, 0, None))
    assert parse_module.parse("<a><b><c>1</c></b><d>2</d></a> 3", construct).out_of_order == ["d"]


# ---------------------------------------------------------------- coherence


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(2, 10), st.integers(3, 60))
def test_long_traces_count_looped_ngrams_as_the_counter_does(seed, n, vocabulary):
    """The hashed count of long traces equals the Counter of word tuples (loops of every length)."""
    rng = random.Random(seed)
    pool = [f"w{i}" for i in range(vocabulary)]
    loop = [rng.choice(pool) for _ in range(rng.randint(1, 40))]
    tokens: list[str] = []
    while len(tokens) < coherence.VECTORISE_FROM_WORDS + 500:
        tokens += loop if rng.random() < 0.3 else [rng.choice(pool) for _ in range(rng.randint(1, 30))]
    grams = Counter(zip(*(tokens[i:] for i in range(n)), strict=False))
    looped = sum(c for c in grams.values() if c > 2)
    assert coherence.looped_ngrams(tokens, n) == looped
    assert coherence.loop_share(" ".join(tokens), n) == looped / (len(tokens) - n + 1)


# ---------------------------------------------------------------- words


@SETTINGS
@given(st.one_of(texts, st.text(), st.text(alphabet=" .!?\n\r\u2028\x1c\u3000ab", max_size=30)))
def test_the_sentences_words_run_together_are_the_words(text):
    """Context.words reads the words off the sentences (one split for reflection and originality)."""
    assert list(chain.from_iterable(sentences(text))) == words(text)


# ---------------------------------------------------------------- originality


def _reference_prepare(lowered, tokens, vocabulary_words, n, fuzzy_words, vectorised, sentences_=None) -> dict:
    """The fingerprint as it was computed with a regex over the joined distinct words."""
    import numpy as np

    exact = frozenset(w for w in vocabulary_words if not w.endswith("*") and " " not in w)
    prefixes = [re.escape(w[:-1]) for w in vocabulary_words if w.endswith("*")]
    prefixed = re.compile(r"(?<!\S)(?:" + "|".join(prefixes) + r")\S*") if prefixes else None
    unique = set(tokens)
    drop = unique & exact
    if prefixed is not None:
        drop.update(prefixed.findall(" ".join(unique)))
    if vectorised:
        ids = originality._hashes(tokens)
        if drop:
            ids = ids[~np.isin(ids, originality._hashes(list(drop)))]
        size, grams = int(ids.size), originality.ngram_hashes(ids, n)
    else:
        kept_words = [t for t in tokens if t not in drop] if drop else tokens
        size, grams = len(kept_words), set(zip(*(kept_words[i:] for i in range(n)), strict=False))
    if sentences_ is None or len(lowered) > fuzzy_words * 8:
        sentences_ = sentences(lowered[: fuzzy_words * 8])
    kept = [[w for w in s if w not in drop] for s in sentences_] if drop else sentences_
    ordered = [w for s in sorted((s for s in kept if s), key=" ".join) for w in s]
    return {"words": size, "grams": grams, "sorted": ordered[:fuzzy_words]}


_VOCABULARY_PIECES = ["arr*", "odin*", "matey", "hark", "thor*", "", "*", "é*", "_a", "good sir", "a*"]
vocabularies = st.lists(st.one_of(st.sampled_from(_VOCABULARY_PIECES), st.text(max_size=3)), max_size=8).map(
    lambda ws: tuple(w for w in ws if not (w.endswith("*") and any(ch.isspace() for ch in w)))
)  # a lexicon's `word*` prefixes never hold white space


@SETTINGS
@given(
    st.one_of(texts, st.just(""), st.just("arrr matey odin's thor. hark arr.")),
    vocabularies,
    st.integers(1, 4),
    st.booleans(),
    st.booleans(),
)
def test_originality_fingerprint_equals_the_regex_reference(text, vocabulary_words, n, vectorised, pass_sentences):
    """Persona words dropped by str.startswith give the fingerprint the joined-words regex gave."""
    import numpy as np

    lowered = text.lower()
    tokens = words(lowered)
    split = sentences(lowered) if pass_sentences else None
    vocab = originality._persona_vocabulary(vocabulary_words)
    got = originality.prepare(lowered, tokens, vocab, n, 1000, vectorised, split)
    want = _reference_prepare(lowered, tokens, vocabulary_words, n, 1000, vectorised, split)
    assert got["words"] == want["words"] and got["sorted"] == want["sorted"]
    if vectorised:
        assert np.array_equal(got["grams"], want["grams"])
    else:
        assert got["grams"] == want["grams"]


@SETTINGS
@given(st.lists(st.sampled_from(["a", "b", "c", "é", "", "a b"]), max_size=12), st.integers(-1, 5))
def test_originality_word_ngrams_equal_the_generic_zip(tokens, n):
    """The n = 3 shortcut gives the n-grams the generic zip of n slices gives (and so does any other n)."""
    assert originality.word_ngrams(tokens, n) == set(zip(*(tokens[i:] for i in range(n)), strict=False))


# Texts that are not all ASCII: the mapped punctuation of both kinds, other scripts, lone and paired
# surrogates (which no UTF-8 codec accepts without `surrogatepass`), white space of every kind.
_WIDE = "“”‘’…—–«»−×é٣\u2028\x1c\u3000\x85\ud800\udc00\ud83d\ude00\U0001f600"
wide_texts = st.lists(
    st.one_of(st.sampled_from([*_WIDE, *string.punctuation, "ab", " ", "\n"]), st.text(max_size=4)), max_size=40
).map("".join)


@SETTINGS
@given(st.one_of(wide_texts, st.text(), st.text(alphabet=string.printable, max_size=60), texts))
def test_translate_equals_str_translate(text):
    """`_translate` (str.replace + bytes.translate) maps every character as str.translate does."""
    for charmap in (text_module._PUNCTUATION_TO_SPACE, text_module._PUNCTUATION_TO_SPACE_OR_BREAK):
        assert text_module._translate(text, charmap) == text.translate(charmap.table)


def test_sentences_and_words_of_a_long_mixed_text_equal_the_str_translate_split():
    """The slow path the fast one replaced: str.translate with the whole table, then the same splits."""
    rng = random.Random(0)
    pieces = [*_WIDE, *string.punctuation, "wait", "arr", " ", "\n", "2 − 1 = 1. ", "x×y! "]
    for _ in range(20):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(2000)))
        table = text_module._PUNCTUATION_TO_SPACE_OR_BREAK.table
        slow = [w for w in (line.split() for line in text.translate(table).split("\n")) if w]
        assert sentences(text) == slow
        assert words(text) == text.translate(text_module._PUNCTUATION_TO_SPACE.table).split()


# ---------------------------------------------------------------- numbers from a cut

_NUMBER_PIECES = ["5 / 4", "5 /4", "5 percent", "5 Percent", "5 %", "5 \\%", "\\frac { 1 } { 2 }", "- 3", "−3", "x2",
                  "1,234", "2,5", "1,2,3", ".5", "1.2.3", "...24", "2e3", "5 \\times 10^3", "twenty four", "(twenty)",
                  "one", "honey", "one hundred and five", "², ", "٣", " ", "  ", "\t", "\n", "\u2003", "\u00a0", "-",
                  "so", "is", "=", "+", "or maybe", "not", "p", "hives", ".", ",", "{", "}", "/"]  # fmt: skip
number_texts = st.lists(st.one_of(st.sampled_from(_NUMBER_PIECES), st.text(max_size=3)), max_size=40).map("".join)
# Runs longer than the stretch before the last number first read (a chain of 30 numbers goes past it)
_LONG_PIECES = ["candle answer winter " * 3, "a" * 70, " " * 70, ", ".join(map(str, range(30))), " or ".join("0123456")]


@SETTINGS
@given(number_texts)
def test_numbers_from_a_cut_are_the_numbers_after_it(text):
    """At a cut, the digits scanned from there on are the whole scan's numbers that start there or after."""
    everything = numbers_in(text)
    for at in range(len(text) + 1):
        found = _numbers.numbers_from(text, at)
        if found is not None:
            assert found == [n for n in everything if n.start >= at]


@SETTINGS
@given(st.lists(st.one_of(number_texts, st.sampled_from(_LONG_PIECES)), max_size=6))
def test_last_expression_from_a_cut_equals_the_whole_window(pieces):
    """The last number's chain read from the numbers after a cut is what all the window's numbers give."""
    tail = "".join(pieces)
    fast = extraction._last_expression(tail)
    cut_before = extraction._cut_before
    extraction._cut_before = lambda window, at: 0  # the plain path: every number of the window
    try:
        assert fast == extraction._last_expression(tail)
    finally:
        extraction._cut_before = cut_before


_ROOT_PIECES = ["x = 3", "x=3 or x = 2", "x\n=\t-1/2", "X = 3", "é = 3", "2 = 2", "= 4", " ", "\u2003", "and", ",", "$"]
root_texts = st.lists(st.one_of(st.sampled_from(_ROOT_PIECES), st.text(max_size=3)), max_size=30).map("".join)


@SETTINGS
@given(root_texts)
def test_roots_guard_never_skips_a_match(text):
    """`_roots` searches for roots only where an "=" follows a letter: never where the regex would match."""
    found = extraction._ROOTS_RE.search(text)
    if found is not None:
        assert any(extraction._letter_before(text, at) for at in extraction._equals_signs(text))


# ---------------------------------------------------------------- answer spans

_SPAN_PIECES = ["$24$", "$$x$$", "\\(x\\)", "\\[x\\]", "\\$5", "\\", "\\'", '"', "'", "`", "*", ":", " ", "\t",
                "\n", "\u2003", "\u00a0", "\x1c", "24 hives", ".", "!", "is", "answer is ", "$", "x"]  # fmt: skip
span_texts = st.lists(st.one_of(st.sampled_from(_SPAN_PIECES), st.text(max_size=3)), max_size=20).map("".join)


def _reference_span_after(tail: str, start: int) -> str:
    """The slow path of `_span_after`: the noise regex always, and every formula opener tried."""
    rest = tail[start : start + extraction.SEGMENT_CHARS * 3]
    stripped = extraction._LEADING_NOISE_RE.sub("", rest)
    offset = len(rest) - len(stripped)
    for opener, closer in (*extraction._DISPLAY_OPENERS, *extraction._INLINE_OPENERS):
        if stripped.startswith(opener):
            close = extraction._find_closer(stripped, closer, len(opener))
            if close < 0 or (opener in ("$", "\\(") and "\n" in stripped[:close]):
                break
            end = close + len(closer)
            after = extraction._SENTENCE_END_RE.search(stripped, end, end + extraction.SEGMENT_CHARS)
            return rest[offset : offset + (after.start() if after else end)]
    end = extraction._SENTENCE_END_RE.search(rest, offset, offset + extraction.SEGMENT_CHARS)
    return rest[offset : end.start() if end else offset + extraction.SEGMENT_CHARS]


@SETTINGS
@given(span_texts)
def test_span_after_equals_the_noise_regex_and_every_opener(text):
    for start in range(len(text) + 1):
        assert extraction._span_after(text, start) == _reference_span_after(text, start)


def test_leading_noise_starts_only_with_white_space_or_a_noise_character():
    """`_span_after` skips the noise regex unless the span starts with one of these: every character checked."""
    for code in range(0x110000):
        ch = chr(code)
        if extraction._LEADING_NOISE_RE.match(ch + '"').end():
            assert ch.isspace() or ch in extraction._NOISE_STARTS, repr(ch)


@SETTINGS
@given(st.one_of(span_texts, texts))
def test_latex_env_guard_never_skips_a_match(text):
    """`_last_expression` looks for formulas only in a text with a dollar sign or a backslash."""
    assert "$" in text or "\\" in text or extraction._LATEX_ENV_RE.search(text) is None
