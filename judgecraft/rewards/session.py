"""The scoring session reward functions share: one Scorer and a bounded cache of breakdowns per settings.

Functions with the same settings share one session per process (looked up by those settings), so
for a batch the first function scores each completion once and the others read the cache: a
combined reward plus seven logged components cost one scoring pass, not eight. A lock makes the
session safe for TRL's threads; the functions that wait on it find their rows already scored.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from judgecraft.rows import completion_text, usable_prompt
from judgecraft.scorer import Breakdown, Scorer, prefill_from_prompt
from judgecraft.scores import JUDGE_COMPONENTS
from judgecraft.settings import ScoringSettings

# Components that apply only with a judge verdict (judgecraft.judge); always None in the rule-based rewards.
VERDICT_COMPONENTS = JUDGE_COMPONENTS  # the old name, kept for code that imports it


class ScoringSession:
    """One Scorer and a bounded breakdown cache, shared by every reward function with the same settings."""

    def __init__(self, settings: ScoringSettings):
        self.settings = settings
        self.scorer = settings.build()
        self._cache: OrderedDict[tuple[str, str | None, str], Breakdown] = OrderedDict()
        self._lock = threading.Lock()
        self.scored = 0  # completions actually scored (cache misses): what a test of "one pass" counts
        self.reused = 0

    def breakdowns(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        golds: Sequence[str | None],
        prefills: Sequence[str | None] | None = None,
    ) -> list[Breakdown]:
        """One Breakdown per completion, in order, each scored at most once while it stays cached.

        `golds` are gold answers already read as text (`judgecraft.rows.gold_text`, which
        `answers_from` applies). A prefill is inferred from the prompt unless given. This is the one
        place a reward's row is normalised: the Scorer gets text, gold text and the prefill.
        """
        prefills = prefills if prefills is not None else [None] * len(completions)
        with self._lock:
            return [
                self._breakdown(prompt, completion, gold, prefill)
                for prompt, completion, gold, prefill in zip(prompts, completions, golds, prefills, strict=True)
            ]

    def _breakdown(self, prompt: Any, completion: Any, gold: str | None, prefill: str | None) -> Breakdown:
        text = completion_text(completion)
        if text is None:  # not text: the scorer gives floor scores and says why (never cached)
            self.scored += 1
            return self.scorer.score(completion, answer=gold, prefill=prefill or "")
        if prefill is None:
            prefill = prefill_from_prompt(usable_prompt(prompt), self.scorer.construct)
        key = (text, gold, prefill)
        bd = self._cache.get(key)
        if bd is not None:
            self.reused += 1
            self._cache.move_to_end(key)
            return bd
        bd = self.scorer.score(text, answer=gold, prefill=prefill)
        self.scored += 1
        self._cache[key] = bd
        if len(self._cache) > self.settings.cache_size:
            self._cache.popitem(last=False)
        return bd


def total_or_none(bd: Breakdown, scorer: Scorer) -> float | None:
    """The total, or None when none of the active components applies to this completion."""
    active = scorer.active
    if active and all(bd.components[name].value is None for name in active):
        return None
    return bd.total


_SESSIONS: dict[tuple[Any, ...], ScoringSession] = {}
_SESSIONS_LOCK = threading.Lock()


def session_for(settings: ScoringSettings) -> ScoringSession:
    """The process's session for these settings (created on first use, e.g. after unpickling)."""
    key = settings.key()
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = _SESSIONS[key] = ScoringSession(settings)
        return session
