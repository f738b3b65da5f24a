"""What every score component shares: its result type and the per-completion context it reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any

from judgecraft.answer import extract_answer
from judgecraft.construct import Construct, per_construct
from judgecraft.text import distinct_words_with_prefixes, sentences, words

if TYPE_CHECKING:
    from judgecraft.answer import AnswerChecker, Extracted, Gold, Match
    from judgecraft.parse import Parsed

SHARED_SPLIT_CHARS = 8_000  # sections up to this long are split into sentences once, words read off them


@dataclass(frozen=True, slots=True)
class Score:
    """A component's value (None: not applicable here) and a detail dict that explains it."""

    value: float | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Component:
    """A registered score component: pure function, declared range, default parameters."""

    name: str
    low: float
    high: float
    fn: Callable[[Parsed, Context], Score]
    defaults: dict[str, Any]
    doc: str


@dataclass
class Context:
    """One completion as the components read it: its Parsed, the parameters, the gold answer, the verdict.

    Derived facts that several components need (a section's words, the final answer's check, each
    persona's answer) are computed once here and memoised, so no component repeats another's work.
    The memo belongs to this completion's `parsed`: a Context is never reused for another text.
    """

    parsed: Parsed
    params: dict[str, dict[str, Any]]
    checker: AnswerChecker
    gold: Gold | None = None
    tokenizer: Any = None
    verdict: Any = None  # a judge verdict, when the judge ran
    _memo: dict[str, Any] = field(default_factory=dict)
    # The section texts' words, by section name: a dict per kind, not `memo` (keys built and hashed per
    # call, a closure per call): several components ask for them several times per section.
    _lowered: dict[str, str] = field(default_factory=dict, repr=False)
    _sentences: dict[str, list[list[str]]] = field(default_factory=dict, repr=False)
    _words: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _distinct: dict[str, set[str]] = field(default_factory=dict, repr=False)
    _stemmed: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def lowered(self, name: str) -> str:
        """A section's text in lower case (memoised: reflection and originality both read it)."""
        found = self._lowered.get(name)
        if found is None:
            found = self._lowered[name] = self.parsed.section_text(name).lower()
        return found

    def sentences(self, name: str) -> list[list[str]]:
        """A section's lower-cased words, sentence by sentence (memoised)."""
        found = self._sentences.get(name)
        if found is None:
            found = self._sentences[name] = sentences(self.lowered(name))
        return found

    def words(self, name: str) -> list[str]:
        """A section's lower-cased words, punctuation dropped (memoised).

        For a short section, the sentences' words run together (the same words as `text.words`), so
        the scores that read both share one split and each word's hash is computed once. A long
        section's sentences are not read whole (originality reads the first `fuzzy_words * 8`
        characters), so it is split into words directly: a list per sentence of a 1 MB section is
        100,000 lists for the garbage collector to track and walk.
        """
        found = self._words.get(name)
        if found is None:
            if name in self._sentences or len(self.lowered(name)) <= SHARED_SPLIT_CHARS:
                found = list(chain.from_iterable(self.sentences(name)))
            else:
                found = words(self.lowered(name))
            self._words[name] = found
        return found

    def distinct(self, name: str) -> set[str]:
        """A section's distinct words (memoised: reflection's voice and originality's persona words read them)."""
        found = self._distinct.get(name)
        if found is None:
            found = self._distinct[name] = set(self.words(name))
        return found

    def voice_stemmed(self, name: str) -> list[str]:
        """A section's distinct words that start with a `word*` stem of any persona's voice (memoised).

        Reflection looks for the section's own persona's stems among them, originality drops them all
        before comparing personas: one pass over the distinct words serves both.
        """
        found = self._stemmed.get(name)
        if found is None:
            stems = voice_stems(self.parsed.construct)
            found = self._stemmed[name] = distinct_words_with_prefixes(self.distinct(name), stems)
        return found

    def section_answer(self, name: str) -> Extracted:
        """The answer a section's own reasoning reaches (memoised per section)."""
        return self.memo(f"answer:{name}", lambda: extract_answer(self.parsed.section_text(name)))

    def final_answer(self) -> Extracted:
        """The answer extracted from the text after the construct (memoised)."""
        return self.memo("final_answer", lambda: extract_answer(self.parsed.final_answer))

    def answer_budget(self) -> Any:
        """The math-verify time this completion may spend, shared by all its answer checks."""
        return self.memo("answer_budget", self.checker.budget)

    def final_answer_match(self) -> Match | None:
        """The final answer checked against the gold answer (None without a gold answer)."""
        if self.gold is None:
            return None
        gold = self.gold
        return self.memo(
            "final_match", lambda: self.checker.compare(self.final_answer(), gold, budget=self.answer_budget())
        )

    def section_match(self, name: str) -> Match | None:
        """A section's own answer checked against the gold answer."""
        if self.gold is None:
            return None
        gold = self.gold
        return self.memo(
            f"match:{name}",
            lambda: self.checker.compare(self.section_answer(name), gold, budget=self.answer_budget()),
        )


@per_construct
def voice_stems(construct: Construct) -> tuple[str, ...]:
    """Every persona's `word*` voice stems. A stem holding white space is left out: no word holds
    white space, so no word starts with it."""
    entries = (w for name in construct.personas for w in construct.tag(name).voice)
    return tuple(dict.fromkeys(w[:-1] for w in entries if w.endswith("*") and not any(map(str.isspace, w))))


def clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
