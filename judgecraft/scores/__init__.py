"""Score components: one module each, every one `score(parsed, ctx) -> Score(value, detail)`.

A component reads the `Parsed` (also `ctx.parsed`) and the `Context` (parameters, gold answer,
verdict, memoised answers and words), and imports nothing from another component: what several
need lives in `judgecraft.parse` (winner_choice), `judgecraft.text` (words, steps) or, for the
judge's three, `scores/verdicts.py`. Each module declares DEFAULTS (its parameters, checked by
`judgecraft.params`) and RANGE (the Scorer clips to it).

The registry below is what construct specs name in `components = [...]`. `alignment` and
`consistency` are one measure under two names: the Shannon write-up calls it thinking/answer
alignment, the competition calls it consistency with the winner.
"""

from __future__ import annotations

from judgecraft.scores import (
    alignment,
    answer_quality,
    coherence,
    correctness,
    judge_accuracy,
    judge_quality,
    judge_reflection,
    judge_winner,
    length,
    originality,
    reflection,
    steps,
    structure,
    tags,
    winner,
)
from judgecraft.scores.base import Component, Context, Score

_MODULES = {
    "tags": tags,
    "structure": structure,
    "length": length,
    "reflection": reflection,
    "originality": originality,
    "winner": winner,
    "correctness": correctness,
    "judge_accuracy": judge_accuracy,
    "consistency": alignment,
    "alignment": alignment,
    "steps": steps,
    "coherence": coherence,
    "answer_quality": answer_quality,
    "judge_winner": judge_winner,
    "judge_quality": judge_quality,
    "judge_reflection": judge_reflection,
}

COMPONENTS: dict[str, Component] = {
    name: Component(
        name=name,
        low=module.RANGE[0],
        high=module.RANGE[1],
        fn=module.score,
        defaults=module.DEFAULTS,
        doc=(module.__doc__ or "").strip().splitlines()[0],
    )
    for name, module in _MODULES.items()
}


# The components that read a judge verdict (`Scorer.score(..., verdict=...)`); without one they do not apply.
JUDGE_COMPONENTS = ("judge_winner", "judge_quality", "judge_reflection")


def register(component: Component) -> None:
    """Add a component (the judge's, or a user's own) so construct specs can name it."""
    COMPONENTS[component.name] = component


__all__ = ["COMPONENTS", "JUDGE_COMPONENTS", "Component", "Context", "Score", "register"]
