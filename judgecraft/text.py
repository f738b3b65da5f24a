"""Word splitting shared by the scores: str.translate + str.split, several times faster than re.findall(r"\\w+")."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from functools import cache
from typing import NamedTuple

_PUNCTUATION = string.punctuation + "“”‘’…—–«»"


class _CharMap(NamedTuple):
    """A one-character-for-one mapping, in the forms `_translate` needs."""

    table: dict[int, str]  # for str.translate
    ascii_bytes: bytes  # the ASCII part, for bytes.translate
    wide: tuple[tuple[str, str], ...]  # the non-ASCII part, for str.replace


def _char_map(mapping: dict[str, str]) -> _CharMap:
    ascii_bytes = bytearray(range(256))
    for ch, to in mapping.items():
        if ch.isascii():
            ascii_bytes[ord(ch)] = ord(to)
    wide = tuple((ch, to) for ch, to in mapping.items() if not ch.isascii())
    return _CharMap(str.maketrans(mapping), bytes(ascii_bytes), wide)


def _translate(text: str, charmap: _CharMap) -> str:
    """`text.translate(charmap.table)`, at memory speed.

    ASCII text (most of it) is translated as bytes. str.translate has a fast path for ASCII text only,
    and even that costs about ten times bytes.translate; one non-ASCII character (a `−`, a `×`) makes
    it look up every character in the table (about 100 ns each: 10 ms for 80 KB). Instead the few
    non-ASCII characters mapped are replaced with str.replace, and the ASCII ones by bytes.translate
    over the UTF-8 encoding, where every byte of a non-ASCII character is >= 0x80 and left alone.
    Lone surrogates go through `surrogatepass` and come back as they were.
    """
    if text.isascii():  # bytes.translate: one table look-up per byte, ~10x cheaper than str.translate's dict
        return text.encode("ascii").translate(charmap.ascii_bytes).decode("ascii")
    for ch, to in charmap.wide:
        if ch in text:
            text = text.replace(ch, to)
    return text.encode("utf-8", "surrogatepass").translate(charmap.ascii_bytes).decode("utf-8", "surrogatepass")


_PUNCTUATION_TO_SPACE = _char_map(dict.fromkeys(_PUNCTUATION, " "))


def words(text: str) -> list[str]:
    """The words of a text, punctuation dropped (case kept: lower-case the text first if needed)."""
    return _translate(text, _PUNCTUATION_TO_SPACE).split()


_PUNCTUATION_TO_SPACE_OR_BREAK = _char_map(dict.fromkeys(_PUNCTUATION, " ") | dict.fromkeys(".!?", "\n"))


def sentences(text: str) -> list[list[str]]:
    """The words of each sentence (split at . ! ? and new lines); empty sentences dropped."""
    lines = _translate(text, _PUNCTUATION_TO_SPACE_OR_BREAK).split("\n")
    return list(filter(None, map(str.split, lines)))  # in C: no Python step per sentence


def has_word(text: str, word: str) -> bool:
    """Whether `word` occurs in `text` with no word character (regex \\w) just before or after it.

    What `re.search(rf"(?<!\\w){re.escape(word)}(?!\\w)", text)` tells, by str.find: a regex that opens
    with a look-behind is tried at every position (9 ms for a 100 KB winner section, read by five
    components), str.find jumps between occurrences.
    """
    at, size = text.find(word), len(text)
    while at >= 0:
        end = at + len(word)
        if (at == 0 or not is_word_char(text[at - 1])) and (end == size or not is_word_char(text[end])):
            return True
        at = text.find(word, at + 1)
    return False


# The ASCII characters `words` keeps in words (letters, digits) or splits at (white space, punctuation).
_ASCII_LETTERS_DIGITS_SPACE_PUNCTUATION = bytes(
    c for c in range(128) if chr(c).isalnum() or chr(c).isspace() or chr(c) in _PUNCTUATION
)


def ascii_alnum_text(text: str) -> bool:
    """Whether `text` is ASCII with only letters, digits, white space and punctuation: then its words (by
    `words`) are all ASCII letters and digits, or it has none, and its regex \\w runs are its words, except
    that '_' joins \\w runs and splits words (a set look-up of words may take a regex's place). One pass
    over the text in C (bytes.translate deleting those characters leaves nothing); non-ASCII punctuation
    fails it where the words alone would pass (the caller then takes its general path)."""
    return text.isascii() and not text.encode("ascii").translate(None, _ASCII_LETTERS_DIGITS_SPACE_PUNCTUATION)


def is_word_char(ch: str) -> bool:
    """The regex class \\w for text: a letter, digit or numeral of any script, or '_'."""
    return ch.isalnum() or ch == "_"


STEP_START_RE = re.compile(
    r"^[ \t]*+(?:\d{1,3}[.)]\s|step\s*+\d{1,3}\s*+[:.)]|(?:first|second|third|next|then|finally|lastly)\b,?|[-*•]\s)",
    re.IGNORECASE | re.MULTILINE,
)


def split_steps(trace: str) -> list[str]:
    """Split a trace at step markers; text before the first marker is a step of its own if non-empty.

    >>> split_steps("Let us see.\\n1. Add 2 and 2.\\n2. Check: 4 - 2 = 2.\\nSo 4.")
    ['Let us see.', '1. Add 2 and 2.', '2. Check: 4 - 2 = 2.\\nSo 4.']
    """
    starts = [m.start() for m in STEP_START_RE.finditer(trace)]
    if not starts:
        return [trace.strip()] if trace.strip() else []
    pieces = [trace[: starts[0]], *(trace[a:b] for a, b in zip(starts, [*starts[1:], len(trace)], strict=True))]
    return [p.strip() for p in pieces if p.strip()]


def count_marked_steps(trace: str) -> int:
    """How many steps begin with an explicit marker (structure the model chose to show)."""
    return sum(1 for _ in STEP_START_RE.finditer(trace))


@cache
def _prefixed_word_re(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    """A space, then one of `prefixes`, then the rest of the word: over words joined by single spaces. A
    prefix holding white space is left out (no word holds white space, so none starts with it)."""
    usable = [re.escape(p) for p in prefixes if not any(map(str.isspace, p))]
    return re.compile(" ((?:" + "|".join(usable) + ")[^ ]*)" if usable else "(?!)")


def distinct_words_with_prefixes(distinct: Iterable[str], prefixes: tuple[str, ...]) -> list[str]:
    """The distinct words that start with one of `prefixes`: what `(?<!\\S)(?:prefix|...)\\S*` finds over
    the words joined by spaces (words hold no white space), the edge included: an empty prefix finds
    "" in the empty text of no words. Reflection's voice stems and originality's persona words read it.

    One regex over the joined words, which starts at each space only (a literal), in C: a few
    times cheaper than a slice and a set look-up per word in Python.
    """
    if not prefixes:
        return []
    return _prefixed_word_re(prefixes).findall(" " + " ".join(distinct))
