"""verl's custom reward function: `compute_score(data_source, solution_str, ground_truth, extra_info)`."""

from __future__ import annotations

import math
from typing import Any

from judgecraft.rewards.session import session_for
from judgecraft.rows import gold_text
from judgecraft.settings import ScoringSettings


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    *,
    construct: Any = "pkv",
    stage: str | None = None,
    weights: dict[str, float] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    not_applicable: float = math.nan,
    **unused: Any,
) -> dict[str, float]:
    """verl's custom reward function: {"score": total, "acc": 1.0/0.0, "<component>": value, ...}.

    Configure verl with `custom_reward_function.path=<judgecraft.rewards.__file__>` and
    `custom_reward_function.name=compute_score`; `custom_reward_function.reward_kwargs` may set
    `construct`, `stage`, `weights` and `params`. "score" is the Scorer's total (0.0 when nothing
    applies: verl has no "not scored"). verl's reward managers take "score" as the reward and collect
    every other key into `reward_extra_info`, which needs the same keys, all numbers, in every row:
    so a component that does not apply is `not_applicable` (NaN by default), never missing or None.
    `extra_info` may carry the row's "prompt" (text or chat messages) or "prefill", so a prefilled
    construct is scored as the continuation it is.
    """
    info = extra_info if isinstance(extra_info, dict) else {}
    prefill = info.get("prefill") if isinstance(info.get("prefill"), str) else None
    session = session_for(ScoringSettings(construct, stage, weights, params))
    bd = session.breakdowns([info.get("prompt")], [solution_str], [gold_text(ground_truth)], [prefill])[0]
    correctness = bd.components.get("correctness")
    if correctness is None or correctness.value is None:
        acc = not_applicable
    else:
        acc = float(correctness.value >= session.scorer.params["correctness"]["correct"])
    out = {"score": float(bd.total), "acc": acc}  # the reward itself is always a number: verl has no "skip"
    for name, component in bd.components.items():
        out[name] = not_applicable if component.value is None else float(component.value)
    return out
