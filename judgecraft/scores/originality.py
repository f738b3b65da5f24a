"""Originality: later personas must not copy earlier ones (the seed's -0.5 per copy, +0.5 for originality).

Each persona after the first is compared with every earlier one. Before comparing, both texts
lose every persona's name and voice words, so a copy that swaps "Arr, matey" for "Hark, good sir"
is still a copy. Two measures decide: word n-gram containment (the share of the later persona's
n-grams found in the earlier one; reordering sentences barely moves it) and a fuzzy word-level
similarity from rapidfuzz over the sentences sorted alphabetically (robust to reordering and small
edits). Either above its threshold is a copy. Both are linear in length; the fuzzy part looks at a
bounded prefix so a 32k-token persona costs the same as a 2k one there.

value = neutral - penalty x (personas that copy or are empty) + bonus x (share of later personas that are original)
"""

from __future__ import annotations

import re
from functools import cache

from rapidfuzz.distance import Indel

from judgecraft.parse import Parsed
from judgecraft.scores.base import Context, Score, clip
from judgecraft.text import words as split_words

DEFAULTS = {
    "ngram": 3,
    "containment_threshold": 0.5,
    "fuzzy_threshold": 0.8,
    "fuzzy_words": 1500,
    "penalty": 0.5,
    "bonus": 0.5,
    "neutral": 0.5,
}
RANGE = (0.0, 1.0)
_SENTENCE_RE = re.compile(r"[.!?\n]+")


@cache
def _persona_vocabulary(words: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Exact words and prefixes (from `word*` entries) that mark a persona rather than its reasoning."""
    exact = {w for w in words if not w.endswith("*") and " " not in w}
    prefixes = tuple(w[:-1] for w in words if w.endswith("*"))
    return frozenset(exact), prefixes


def _vocabulary(parsed: Parsed) -> tuple[frozenset[str], tuple[str, ...]]:
    c = parsed.construct
    words = [*c.personas, *(w for name in c.personas for w in c.tag(name).voice)]
    return _persona_vocabulary(tuple(words))


def prepare(text: str, vocab: tuple[frozenset[str], tuple[str, ...]], fuzzy_words: int) -> tuple[list[str], list[str]]:
    """A persona's words without persona vocabulary, and a bounded form of them with sentences sorted."""
    exact, prefixes = vocab
    lowered = text.lower()
    tokens = split_words(lowered)
    drop = {t for t in set(tokens) if t in exact or (prefixes and t.startswith(prefixes))}
    words = [t for t in tokens if t not in drop] if drop else tokens
    head = lowered[: fuzzy_words * 12]
    sentences = [[w for w in split_words(s) if w not in drop] for s in _SENTENCE_RE.split(head)]
    ordered = [w for sentence in sorted((s for s in sentences if s), key=" ".join) for w in sentence]
    return words, ordered[:fuzzy_words]


def ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return set(zip(*(words[i:] for i in range(n)), strict=False))


def similarity(earlier: dict, later: dict) -> dict:
    """How much of `later` is found in `earlier`."""
    grams_later = later["grams"]
    containment = len(grams_later & earlier["grams"]) / len(grams_later) if grams_later else 0.0
    fuzzy = Indel.normalized_similarity(earlier["sorted"], later["sorted"]) if later["sorted"] else 0.0
    return {"containment": round(containment, 4), "fuzzy": round(fuzzy, 4)}


def score(parsed: Parsed, ctx: Context) -> Score:
    p = ctx.params["originality"]
    personas = parsed.construct.personas
    if len(personas) < 2:
        return Score(None, {"reason": "originality needs at least two personas"})
    vocab = _vocabulary(parsed)
    prepared = {}
    for name in personas:
        words, ordered = prepare(parsed.section_text(name), vocab, p["fuzzy_words"])
        prepared[name] = {"words": len(words), "grams": ngrams(words, p["ngram"]), "sorted": ordered}
    later = personas[1:]
    verdicts, pairs = {}, {}
    for i, name in enumerate(later, start=1):
        if prepared[name]["words"] < p["ngram"]:
            verdicts[name] = "empty"
            continue
        copied_from = []
        for earlier in personas[:i]:
            if prepared[earlier]["words"] < p["ngram"]:
                continue
            sim = similarity(prepared[earlier], prepared[name])
            pairs[f"{name}~{earlier}"] = sim
            if sim["containment"] >= p["containment_threshold"] or sim["fuzzy"] >= p["fuzzy_threshold"]:
                copied_from.append(earlier)
        verdicts[name] = f"copies {', '.join(copied_from)}" if copied_from else "original"
    copies = sum(v != "original" for v in verdicts.values())  # an empty persona is no original approach either
    originals = sum(v == "original" for v in verdicts.values())
    value = p["neutral"] - p["penalty"] * copies + p["bonus"] * originals / len(later)
    return Score(clip(value, *RANGE), {"personas": verdicts, "similarity": pairs})
