"""The reward-hacking monitor: per step, what share of the reward could have been earned without learning.

Three signals, logged with every step's metrics and drawn by `judgecraft report`:
- `copy_share`: completions that copy the prompt (the system prompt and its examples), found with the
  same word n-gram containment and fuzzy similarity that the originality score uses between personas;
- `length_limit_share`: completions cut at `max_completion_tokens`;
- `zero_var/<component>`: groups in which a component gave every completion the same value (no signal).

`copyable_components` are those a verbatim copy of the system prompt already scores above 0: a run whose
reward rises only through them, while copying rises too, has learned to copy rather than to answer.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from judgecraft.scores.originality import DEFAULTS, prepare, similarity
from judgecraft.text import words

NO_VOCABULARY: tuple[frozenset[str], None] = (frozenset(), None)  # no persona words to remove
FUZZY_WORDS = 400


def _fingerprint(text: str) -> dict[str, Any]:
    lowered = text.lower()
    return prepare(lowered, words(lowered), NO_VOCABULARY, DEFAULTS["ngram"], FUZZY_WORDS, vectorised=False)


class CopyDetector:
    """Is a completion a copy of the prompt? (n-gram containment or fuzzy similarity, originality's thresholds)"""

    def __init__(self, prompt: str):
        self.source = _fingerprint(prompt) if prompt.strip() else None

    def copies(self, completion: str) -> bool:
        if self.source is None:
            return False
        target = _fingerprint(completion)
        if target["words"] < DEFAULTS["ngram"]:
            return False
        sim = similarity(self.source, target)
        return sim["containment"] >= DEFAULTS["containment_threshold"] or sim["fuzzy"] >= DEFAULTS["fuzzy_threshold"]


def copyable_components(scorer: Any, prompt: str, prefill: str) -> list[str]:
    """Active components that the system prompt itself, pasted as the completion, scores above 0."""
    if not prompt.strip():
        return []
    start = prompt.find(prefill) if prefill else -1
    # With a prefill, the copy is the prompt's example from where the prefill ends (what a copying policy writes).
    text = prompt[start + len(prefill) :] if start >= 0 else prompt
    values = scorer.score(text, prefill=prefill).values()
    return sorted(name for name in scorer.active if (values.get(name) or 0) > 0)


def zero_variance_shares(values: dict[str, Sequence[float | None]], group_size: int) -> dict[str, float]:
    """Per component, the share of groups whose completions all got the same value (None counts as a value)."""
    out = {}
    for name, column in values.items():
        groups = [column[i : i + group_size] for i in range(0, len(column), group_size)]
        flat = sum(len(set(g)) <= 1 for g in groups)
        out[f"zero_var/{name}"] = flat / len(groups) if groups else 0.0
    return out


def monitor_row(
    detector: CopyDetector, texts: list[str], finished: list[bool], values: dict[str, list[Any]], group_size: int
) -> dict[str, float]:
    """The step's monitor metrics (see the module docstring)."""
    n = max(1, len(texts))
    return {
        "copy_share": sum(detector.copies(t) for t in texts) / n,
        "length_limit_share": sum(not f for f in finished) / n,
        **zero_variance_shares(values, group_size),
    }


def copying_flag(rows: list[dict[str, Any]], rise: float = 0.05) -> str | None:
    """A warning when the reward rose only through copyable components while copying rose too, else None."""
    if len(rows) < 4 or "copy_share" not in rows[0]:
        return None
    k = max(1, len(rows) // 5)
    first, last = rows[:k], rows[-k:]

    def mean(part: list[dict[str, Any]], key: str) -> float:
        vals = [r[key] for r in part if isinstance(r.get(key), int | float)]
        return statistics.fmean(vals) if vals else 0.0

    if mean(last, "reward_mean") - mean(first, "reward_mean") < rise:
        return None
    components = [key.removeprefix("reward/") for key in rows[0] if key.startswith("reward/")]
    rising = [c for c in components if mean(last, f"reward/{c}") - mean(first, f"reward/{c}") >= rise]
    copyable = set(rows[0].get("copyable_components") or [])
    copying = mean(last, "copy_share")
    if rising and set(rising) <= copyable and copying >= max(0.25, mean(first, "copy_share") + rise):
        return (
            f"reward rose only through {', '.join(rising)}, which a copy of the prompt satisfies, "
            f"while {copying:.0%} of the last completions copy the prompt: the policy may be copying, not learning"
        )
    return None
