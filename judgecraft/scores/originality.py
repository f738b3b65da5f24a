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

from functools import cache
from itertools import chain

import numpy as np
from rapidfuzz.distance import Indel

from judgecraft.construct import Construct, per_construct
from judgecraft.parse import Parsed
from judgecraft.scores.base import Context, Score, clip, voice_stems
from judgecraft.text import distinct_words_with_prefixes
from judgecraft.text import sentences as split_sentences

DEFAULTS = {
    "ngram": 3,
    "containment_threshold": 0.5,
    "fuzzy_threshold": 0.8,
    "fuzzy_words": 1000,
    "penalty": 0.5,
    "bonus": 0.5,
    "neutral": 0.5,
}
RANGE = (0.0, 1.0)
VECTORISE_FROM_WORDS = 2000  # longer personas are fingerprinted with numpy, shorter ones with Python sets


Vocabulary = tuple[frozenset[str], tuple[str, ...] | None]  # exact words; `word*` prefixes (None: none)


@cache
def _persona_vocabulary(words: tuple[str, ...]) -> Vocabulary:
    """Exact words, and the `word*` prefixes, that mark a persona rather than its reasoning."""
    exact = {w for w in words if not w.endswith("*") and " " not in w}
    prefixes = tuple(w[:-1] for w in words if w.endswith("*"))
    return frozenset(exact), prefixes or None


@per_construct
def _vocabulary(c: Construct) -> tuple[Vocabulary, bool]:
    """The construct's persona vocabulary, and whether its prefixes find the words `Context.voice_stemmed`
    finds (the same stems, less those holding white space, which start no word)."""
    words = [*c.personas, *(w for name in c.personas for w in c.tag(name).voice)]
    vocab = _persona_vocabulary(tuple(words))
    startable = {p for p in vocab[1] or () if not any(map(str.isspace, p))}
    return vocab, startable == set(voice_stems(c))


def persona_words(unique: set[str], vocab: Vocabulary) -> set[str]:
    """The distinct words of a text that belong to the persona vocabulary (set operations, and one
    str.startswith per distinct word: linear)."""
    exact, prefixes = vocab
    drop = unique & exact
    if prefixes is not None:
        drop.update(distinct_words_with_prefixes(unique, prefixes))
    return drop


def prepare(
    lowered: str,
    tokens: list[str],
    vocab: Vocabulary,
    n: int,
    fuzzy_words: int,
    vectorised: bool,
    sentences: list[list[str]] | None = None,
    drop: set[str] | None = None,
) -> dict:
    """A persona's n-gram fingerprint and a bounded sorted-sentence word list, persona vocabulary removed.

    `sentences`: the words of each sentence of the whole text, when already split (they are used
    only when the text is within the fuzzy part's `fuzzy_words * 8` characters). `drop`: the
    text's persona words (`persona_words`), when already found.
    """
    if drop is None:
        drop = persona_words(set(tokens), vocab)
    whole = sentences is not None and len(lowered) <= fuzzy_words * 8
    if not whole:
        sentences = split_sentences(lowered[: fuzzy_words * 8])
    # A sentence without persona words (most) is kept as it is: drop.isdisjoint is one C-level test.
    kept = [s if drop.isdisjoint(s) else [w for w in s if w not in drop] for s in sentences] if drop else sentences
    if vectorised:
        ids = _hashes(tokens)
        if drop:
            ids = ids[~np.isin(ids, _hashes(list(drop)))]
        size, grams = int(ids.size), ngram_hashes(ids, n)
    else:
        if not drop:
            words = tokens
        elif whole:  # the whole text's sentences run together are its words: the kept ones, the words kept
            words = list(chain.from_iterable(kept))
        else:
            words = [t for t in tokens if t not in drop]
        size, grams = len(words), word_ngrams(words, n)
    ordered = list(chain.from_iterable(sorted(filter(None, kept), key=" ".join)))
    return {"words": size, "grams": grams, "sorted": ordered if len(ordered) <= fuzzy_words else ordered[:fuzzy_words]}


def word_ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    """The distinct word n-grams of a short text. The default n = 3 zips three slices directly, which
    saves the generic form's generator and star-unpacking (about 15 kIr per completion of three personas),
    and without `strict=False`: a keyword makes zip() build a dict and take its slow call (twice the time)."""
    if n == 3:
        return set(zip(words, words[1:], words[2:]))  # noqa: B905 (the slices are meant to end unevenly)
    return set(zip(*(words[i:] for i in range(n)), strict=False))


def _hashes(words: list[str]) -> np.ndarray:
    return np.fromiter(map(hash, words), dtype=np.int64, count=len(words))


def ngram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """The distinct word n-grams of a long text as 64-bit hashes, vectorised (a 32k-token persona in ms)."""
    if ids.size < n:
        return np.empty(0, dtype=np.int64)
    count = ids.size - n + 1
    grams = ids[:count].copy()
    with np.errstate(over="ignore"):
        for i in range(1, n):
            grams = grams * np.int64(1_000_003) + ids[i : i + count]  # wraps around: a hash, not a number
    return np.unique(grams)


def similarity(earlier: dict, later: dict) -> dict:
    """How much of `later` is found in `earlier`."""
    grams_later, grams_earlier = later["grams"], earlier["grams"]
    if isinstance(grams_later, np.ndarray):
        shared = np.intersect1d(grams_later, grams_earlier, assume_unique=True).size
    else:
        shared = len(grams_later & grams_earlier)
    containment = shared / len(grams_later) if len(grams_later) else 0.0
    fuzzy = Indel.normalized_similarity(earlier["sorted"], later["sorted"]) if later["sorted"] else 0.0
    return {"containment": round(containment, 4), "fuzzy": round(fuzzy, 4)}


def score(parsed: Parsed, ctx: Context) -> Score:
    p = ctx.params["originality"]
    personas = parsed.construct.personas
    if len(personas) < 2:
        return Score(None, {"reason": "originality needs at least two personas"})
    vocab, shared_stems = _vocabulary(parsed.construct)
    vectorised = max(map(len, map(ctx.words, personas))) > VECTORISE_FROM_WORDS
    fuzzy_chars = p["fuzzy_words"] * 8  # a longer persona's sentences are not read whole (see prepare)
    prepared = {}
    for name in personas:
        lowered = ctx.lowered(name)
        if shared_stems:  # the stems' words were found once for reflection and originality (Context.voice_stemmed)
            drop = ctx.distinct(name) & vocab[0]
            drop.update(ctx.voice_stemmed(name))
        else:
            drop = persona_words(ctx.distinct(name), vocab)
        prepared[name] = prepare(
            lowered,
            ctx.words(name),
            vocab,
            p["ngram"],
            p["fuzzy_words"],
            vectorised,
            ctx.sentences(name) if len(lowered) <= fuzzy_chars else None,
            drop,
        )
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
    originals = [*verdicts.values()].count("original")  # list.count: in C, no generator
    copies = len(verdicts) - originals  # an empty persona is no original approach either
    value = p["neutral"] - p["penalty"] * copies + p["bonus"] * originals / len(later)
    return Score(clip(value, *RANGE), {"personas": verdicts, "similarity": pairs})
