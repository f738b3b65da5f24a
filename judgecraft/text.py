"""Word splitting shared by the scores: str.translate + str.split, several times faster than re.findall(r"\\w+")."""

from __future__ import annotations

import string

_PUNCTUATION_TO_SPACE = str.maketrans({ch: " " for ch in string.punctuation + "“”‘’…—–«»"})


def words(text: str) -> list[str]:
    """The words of a text, punctuation dropped (case kept: lower-case the text first if needed)."""
    return text.translate(_PUNCTUATION_TO_SPACE).split()


_PUNCTUATION_TO_SPACE_OR_BREAK = str.maketrans(
    {ch: " " for ch in string.punctuation + "“”‘’…—–«»"} | {ch: "\n" for ch in ".!?"}
)


def sentences(text: str) -> list[list[str]]:
    """The words of each sentence (split at . ! ? and new lines); empty sentences dropped."""
    return [w for w in (line.split() for line in text.translate(_PUNCTUATION_TO_SPACE_OR_BREAK).split("\n")) if w]
