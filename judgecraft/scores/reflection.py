"""Reflection: self-correction moves ("wait", "let me re-check", "no, that's wrong") and the persona's own voice.

A marker counts as a move only when real reasoning follows it (at least `min_words_between` words
before the next marker), each distinct marker counts at most `max_per_marker` times, and a section
that is mostly markers or voice words scores 0 for that part: a list of keywords repeated without
reasoning earns nothing. Voice counts the distinct words of the persona's lexicon it uses. For
sections without a lexicon (a <think> trace) only self-correction counts.
"""

from __future__ import annotations

import re
from functools import cache
from typing import NamedTuple

from judgecraft.construct import Construct, per_construct
from judgecraft.parse import Parsed
from judgecraft.scores.base import Context, Score
from judgecraft.text import ascii_alnum_text, distinct_words_with_prefixes, is_word_char
from judgecraft.text import words as split_words

DEFAULTS = {
    # Regular expressions, matched on the lower-cased text.
    "markers": [
        r"\bwait\b",
        r"\bhold on\b",
        r"\bhmm+\b",
        r"\bactually\b",
        r"\blet (?:me|us|'s) (?:re-?check|double[- ]check|verify|reconsider|re-?think|re-?calculate|recompute"
        r"|re-?examine|check (?:that|this|again|my|the))",
        r"\bno,? (?:that'?s|that is|this is|it'?s) (?:wrong|not right|incorrect|a mistake)",
        r"\bthat (?:can'?t|cannot|doesn'?t|does not) (?:be right|work|add up|make sense)",
        r"\bi (?:made|have made) (?:a|an) (?:mistake|error)",
        r"\bmy mistake\b",
        r"\boops\b",
        r"\bon second thought\b",
        r"\bcorrection\b",
        r"\bto (?:double[- ]check|verify)\b",
        r"\bsanity check\b",
    ],
    "min_words_between": 5,
    "max_per_marker": 2,
    "target_moves": 2,
    "target_voice": 3,
    "voice_weight": 0.5,
    "marker_spam_share": 0.25,  # more markers than this share of the words: a keyword list, not reasoning
    "voice_spam_share": 0.5,  # mostly voice words: a word list, not speech
}
RANGE = (0.0, 1.0)


class _Marker(NamedTuple):
    literal: str  # the text every match starts with
    words: frozenset[str]  # the whole words every match starts with (see `_whole_words`)
    pattern: re.Pattern[str]


def _whole_words(literal: str, ends_word: bool) -> frozenset[str]:
    """The words (`text.words`) a text must hold where `literal` occurs after a non-word character, if
    the text's words are all ASCII letters and digits (`text.ascii_alnum_text`): then every character
    is in a word or a separator, so each of the literal's words bounded by separators is a whole word
    of the text; the last one too if `ends_word` (the literal is followed by a non-word character)."""
    found = split_words(literal)
    last_bounded = ends_word or not literal or not literal[-1].isalnum()
    return frozenset(found if last_bounded else found[:-1])


# At a pattern's position: optional separators (" ',-", each with "?"), then one that must be there
# (no quantifier after it): the character a match holds there is not a word character.
_SEPARATOR_NEXT = re.compile(r"(?:[ ',-]\?)*[ ',-](?![*+?{])")


@cache
def _marker_patterns(patterns: tuple[str, ...]) -> tuple[_Marker, ...]:
    """Each marker compiled alone, with the literal text it must start with.

    The leading \\b is dropped: a pattern that starts with a literal word lets the regex engine jump
    between occurrences of that word (10x faster than an alternation of all markers), and the word
    boundary is checked in Python instead. A marker whose literal start is absent from the text is
    not run at all (one substring search in C; or, see `_marker_hits`, set look-ups of its words).
    """
    out = []
    for pattern in patterns:
        bare = pattern[2:] if pattern.startswith("\\b") else pattern
        literal = re.match(r"[a-z0-9 ',-]*", bare).group()
        if len(literal) < len(bare) and bare[len(literal)] in "*+?{":
            literal = literal[:-1]  # "hmm+" needs "hm" only
        if _top_level_alternation(bare):
            literal = ""  # "wait|hold on": a match need not start with the first branch's text
        # "wait\\b", or "no,? that": a non-word character follows the literal in every match
        ends_word = bare.startswith("\\b", len(literal)) or _SEPARATOR_NEXT.match(bare, len(literal)) is not None
        out.append(_Marker(literal, _whole_words(literal, ends_word), re.compile(bare)))
    return tuple(out)


def _top_level_alternation(pattern: str) -> bool:
    """Whether a `|` outside every group and character class splits the pattern into branches."""
    depth, in_class, escaped = 0, False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth <= 0:
            return True
    return False


class _Index(NamedTuple):
    """The markers of a parameter set, arranged for `_marker_hits`."""

    markers: tuple[_Marker, ...]
    words: frozenset[str]  # every marker's whole words
    by_word: dict[str, tuple[int, ...]]  # the markers with whole words, each under one of them
    searched: tuple[tuple[int, str], ...]  # the markers without, with the literal searched for


@cache
def _marker_index(patterns: tuple[str, ...]) -> _Index:
    markers = _marker_patterns(patterns)
    by_word: dict[str, tuple[int, ...]] = {}
    for i, marker in enumerate(markers):
        if marker.words:
            key = min(marker.words)
            by_word[key] = (*by_word.get(key, ()), i)
    searched = tuple((i, marker.literal) for i, marker in enumerate(markers) if not marker.words)
    return _Index(markers, frozenset().union(*(m.words for m in markers)), by_word, searched)


def _marker_hits(lowered: str, index: _Index, plain_words: set[str] | None = None) -> list[tuple[int, int, int]]:
    """(start, end, marker index) of every marker at a word start, in order.

    `plain_words`: see `self_correction`. A marker whose whole words are not all among them is absent:
    one set intersection finds the markers that may be present (a substring search per marker costs
    more than the rest of the work on a section without markers).
    """
    markers = index.markers
    if plain_words is None:
        present = [i for i, marker in enumerate(markers) if marker.literal in lowered]
    else:
        seen = plain_words & index.words  # in C; a section holds few of the markers' words
        present = [i for i, literal in index.searched if literal in lowered]
        if seen:
            present += [i for word in seen for i in index.by_word.get(word, ()) if markers[i].words <= seen]
    if not present:
        return []
    found = [
        (start, m.end(), i)
        for i in present
        for m in markers[i].pattern.finditer(lowered)
        if not (start := m.start()) or not (lowered[start - 1].isalnum() or lowered[start - 1] == "_")
    ]
    found.sort()
    return found


class _Lexicon(NamedTuple):
    """A voice lexicon, arranged for `voice` (see `_lexicon`)."""

    exact: frozenset[str]  # single words
    stems: tuple[str, ...]  # `word*` entries, without the star
    phrases: tuple[tuple[str, bool, frozenset[str]], ...]  # (phrase, starred, its whole words)
    stem_entries: tuple[tuple[str, str], ...]  # (" " + stem, "stem*"): see `voice`
    phrase_words: frozenset[str]  # every phrase's whole words
    worded: tuple[tuple[str, bool, frozenset[str]], ...]  # the phrases with whole words
    unworded: tuple[tuple[str, bool, frozenset[str]], ...]  # the phrases without: found by a substring search


@cache
def _lexicon(words: tuple[str, ...]) -> _Lexicon:
    """A lexicon entry is a word or phrase; a trailing * matches any ending (arr* for arr, arrr, arrrr).

    Single words are looked up in a set and starred stems by prefix (str.startswith), over the
    section's distinct words, which is linear in the text; multi-word phrases are found with
    str.find (see `_count_phrase`), each with the whole words it holds (see `_whole_words`).
    """
    exact = frozenset(w.strip("'") for w in words if " " not in w and not w.endswith("*"))
    stems = tuple(w[:-1] for w in words if w.endswith("*") and " " not in w)
    phrases = tuple(
        (w.rstrip("*"), w.endswith("*"), _whole_words(w.rstrip("*"), not w.endswith("*"))) for w in words if " " in w
    )
    return _Lexicon(
        exact,
        stems,
        phrases,
        tuple((" " + stem, stem + "*") for stem in stems),
        frozenset().union(*(whole for _, _, whole in phrases)),
        tuple(phrase for phrase in phrases if phrase[2]),
        tuple(phrase for phrase in phrases if not phrase[2]),
    )


def _count_phrase(lowered: str, phrase: str, starred: bool) -> int:
    """Occurrences of a phrase as whole words (starred: its last word may go on: 'by the god*').

    The same non-overlapping, left-to-right matches as `(?<!\\w)phrase(?!\\w)` (starred:
    `(?<!\\w)phrase\\w*`), found with str.find: a regex that opens with a look-behind tries every
    position of the text, str.find jumps between occurrences.
    """
    count, size, at = 0, len(lowered), lowered.find(phrase)
    while at >= 0:
        end = at + len(phrase)
        if at and is_word_char(lowered[at - 1]):
            at = lowered.find(phrase, at + 1)
            continue
        if starred:
            while end < size and is_word_char(lowered[end]):
                end += 1
        elif end < size and is_word_char(lowered[end]):
            at = lowered.find(phrase, at + 1)
            continue
        count += 1
        at = lowered.find(phrase, end)
    return count


def self_correction(
    lowered: str, n_words: int, p: dict, plain_words: set[str] | None = None, index: _Index | None = None
) -> dict:
    """`plain_words`: the text's distinct words, when the caller has them and they are all ASCII letters
    and digits (`text.ascii_alnum_text`). `index`: `p`'s markers arranged (`_marker_index`), when the
    caller has them (once per completion, not per section)."""
    if index is None:
        index = _marker_index(tuple(p["markers"]))
    hits = _marker_hits(lowered, index, plain_words)
    need = p["min_words_between"]
    per_marker: dict[int, int] = {}
    moves = 0
    for i, (_, end, marker) in enumerate(hits):
        gap_end = hits[i + 1][0] if i + 1 < len(hits) else len(lowered)
        followed_by_reasoning = len(lowered[end : min(gap_end, end + 400)].split(None, need)) >= need
        if followed_by_reasoning and per_marker.get(marker, 0) < p["max_per_marker"]:
            per_marker[marker] = per_marker.get(marker, 0) + 1
            moves += 1
    spam = n_words > 0 and len(hits) / n_words > p["marker_spam_share"]
    value = 0.0 if spam else min(1.0, moves / p["target_moves"]) if p["target_moves"] > 0 else 1.0
    return {"value": value, "markers": len(hits), "moves": moves, "spam": spam}


def voice(
    lowered: str,
    words: list[str],
    lexicon: tuple[str, ...],
    p: dict,
    distinct: set[str] | None = None,
    stemmed: list[str] | None = None,
    plain: bool = False,
) -> dict:
    """`distinct`: the set of `words`, and `stemmed`: those of them that start with a stem of `lexicon`,
    when the caller has them already (see `Context.voice_stemmed`). `plain`: `distinct` is given and
    its words are all ASCII letters and digits (`text.ascii_alnum_text`): a phrase some of whose
    whole words are not among them is absent, without a substring search.

    `words` are `text.words(lowered)`: they hold no '*' (a used stem's entry, "arr*", is not counted),
    and each occurs in `lowered` at least as often as among them (see `_voice_share_above`).
    """
    return _voice(lowered, words, _lexicon(lexicon), p, distinct, stemmed, plain)


def _voice(
    lowered: str,
    words: list[str],
    lex: _Lexicon,
    p: dict,
    distinct: set[str] | None,
    stemmed: list[str] | None,
    plain: bool,
) -> dict:
    """`voice`, with the lexicon arranged (`score` arranges each section's once per construct)."""
    if distinct is None:
        distinct = set(words)  # one pass; each distinct word is then looked at once (linear, not words x matched)
    voiced = distinct & lex.exact  # set intersection, in C
    used = [*voiced]  # in any order: sorted once at the end
    if stemmed is None:
        stemmed = distinct_words_with_prefixes(distinct, lex.stems)
    if stemmed:
        # Words hold no space, so " " + stem is in the words joined by spaces where a word starts with it.
        joined = " " + " ".join(stemmed)
        used += [entry for spaced, entry in lex.stem_entries if spaced in joined]
        voiced.update(stemmed)
    if not plain:
        found_in = [phrase for phrase in lex.phrases if phrase[0] in lowered]
    else:  # a phrase whose whole words are not all in the text is absent
        seen = distinct & lex.phrase_words
        found_in = [phrase for phrase in lex.worded if phrase[2] <= seen] if seen else []
        if lex.unworded:
            found_in += [phrase for phrase in lex.unworded if phrase[0] in lowered]
    in_phrases = 0
    for phrase, starred, _ in found_in:
        found = _count_phrase(lowered, phrase, starred)
        if found:
            used.append(phrase)
            in_phrases += found
    spam = bool(words) and _voice_share_above(lowered, words, distinct, voiced, in_phrases, p["voice_spam_share"])
    value = 0.0 if spam else min(1.0, len(used) / p["target_voice"]) if p["target_voice"] > 0 else 1.0
    return {"value": value, "distinct": len(used), "used": sorted(used)[:12], "spam": spam}


COUNT_EACH_UP_TO = 8  # voice words counted one by one with list.count up to this many (a section uses a few)


def _voice_share_above(
    lowered: str, words: list[str], distinct: set[str], voiced: set[str], in_phrases: int, share: float
) -> bool:
    """Whether the voice words (`voiced` among `words`, plus `in_phrases` phrase occurrences) are more
    than `share` of `words` (not empty; `distinct`: their set).

    First a bound without reading the text: every distinct word that is not a voice word occurs at
    least once, so the voice words occur at most len(words) - (len(distinct) - len(voiced)) times;
    most sections are settled there. Then, each of `words` being a piece of `lowered`, a word occurs
    in it at least as often as among them: a few voice words are counted as substrings (str.count, a
    memory scan each). When even that count is within the share, the words are not compared one by
    one (list.count: a rich comparison per word, several times dearer).
    """
    size = len(words)
    if not (in_phrases + size - len(distinct) + len(voiced)) / size > share:
        return False
    if len(voiced) <= COUNT_EACH_UP_TO and not (in_phrases + sum(map(lowered.count, voiced))) / size > share:
        return False
    return (in_phrases + _count_among(words, voiced)) / size > share


def _count_among(words: list[str], found: set[str]) -> int:
    """How many of `words` are in `found`, in C: a list.count per word found is a plain comparison per
    word, several times cheaper than a set look-up through `found.__contains__`; past a few words found,
    the look-ups, so the count stays linear."""
    if len(found) <= COUNT_EACH_UP_TO:
        return sum(map(words.count, found))
    return sum(map(found.__contains__, words))


@per_construct
def _sections(c: Construct) -> tuple[tuple[str, _Lexicon | None, bool], ...]:
    """Each reasoning section with its voice lexicon arranged (None: it has none) and whether it is a persona."""
    return tuple(
        (name, _lexicon(c.tag(name).voice) if c.tag(name).voice else None, name in c.personas)
        for name in c.reasoning_sections
    )


def score(parsed: Parsed, ctx: Context) -> Score:
    p = ctx.params["reflection"]
    sections = _sections(parsed.construct)
    if not sections:
        return Score(None, {"reason": "the construct has no reasoning sections"})
    index = _marker_index(tuple(p["markers"]))
    per_section = {}
    scores = []
    for name, lex, persona in sections:
        lowered, words = ctx.lowered(name), ctx.words(name)
        distinct = ctx.distinct(name)
        plain = ascii_alnum_text(lowered)  # the fast paths below need the words plain
        correction = self_correction(lowered, len(words), p, distinct if plain else None, index)
        if lex is not None:
            # A persona's stems are among every persona's: its words are picked from the shared ones.
            stems = lex.stems
            stemmed = (
                ([w for w in ctx.voice_stemmed(name) if w.startswith(stems)] if stems else []) if persona else None
            )
            spoken = _voice(lowered, words, lex, p, distinct, stemmed, plain)
            w = p["voice_weight"]
            value = round((1 - w) * correction["value"] + w * spoken["value"], 6)
            per_section[name] = {"score": value, "self_correction": correction, "voice": spoken}
        else:
            value = round(correction["value"], 6)
            per_section[name] = {"score": value, "self_correction": correction}
        scores.append(value)
    return Score(sum(scores) / len(scores), {"sections": per_section})
