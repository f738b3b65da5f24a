"""A step's rewards: the construct's components from the Scorer, the judge's through its public reward API.

The rule-based components and the judge's are added (the Scorer's total is a weighted sum, so splitting it
this way changes nothing): the Scorer computes every component but the judge's, and
`judgecraft.judge.reward.JudgeReward` judges and weighs the judge components, exactly as it does for TRL.
An optional soft overlong penalty (DAPO) is a further term over the last `overlong_buffer` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from judgecraft.grpo.config import TrainConfig

JUDGE_PREFIX = "judge_"


def overlong_penalty(length: int, max_tokens: int, buffer: int, penalty: float) -> float:
    """DAPO's soft overlong punishment: 0 until `buffer` tokens before the limit, then linear down to -penalty."""
    if buffer <= 0 or length <= max_tokens - buffer:
        return 0.0
    return -penalty * min(1.0, (length - (max_tokens - buffer)) / buffer)


@dataclass
class StepRewards:
    rewards: torch.Tensor  # one per completion
    components: dict[str, list[float | None]]  # per active component, one value per completion


class StepScorer:
    """Scores one step's completions with the run's construct, stage, weights and judge."""

    def __init__(self, config: TrainConfig):
        self.config = config
        settings = config.scoring_settings()
        full = settings.build()
        self.construct = full.construct
        self.judge_weights = {k: w for k, w in full.active.items() if k.startswith(JUDGE_PREFIX)}
        rules = [name for name in full.components if not name.startswith(JUDGE_PREFIX)]
        self.scorer = replace(settings, components=rules).build()
        self.judge_reward = None
        if self.judge_weights:
            if not config.judge:
                raise ValueError(f"weights {sorted(self.judge_weights)} need a judge: set `judge` in the config")
            from judgecraft.judge.reward import JudgeReward

            self.judge_reward = JudgeReward(config.judge, construct=config.construct, weights=self.judge_weights)

    @property
    def active(self) -> dict[str, float]:
        return {**self.scorer.active, **self.judge_weights}

    def score(
        self, questions: list[str], texts: list[str], answers: list[Any], lengths: list[int], prefill: str
    ) -> StepRewards:
        cfg = self.config
        breakdowns = [self.scorer.score(t, answer=a, prefill=prefill) for t, a in zip(texts, answers, strict=True)]
        totals = [bd.total for bd in breakdowns]
        components: dict[str, list[float | None]] = {
            name: [bd.components[name].value for bd in breakdowns] for name in self.scorer.active
        }
        if self.judge_reward is not None:
            judged = self.judge_reward.sync(questions, [prefill + t for t in texts], answer=answers)
            components["judge"] = judged
            totals = [t + (j or 0.0) for t, j in zip(totals, judged, strict=True)]
        if cfg.overlong_buffer:
            penalties = [
                overlong_penalty(n, cfg.max_completion_tokens, cfg.overlong_buffer, cfg.overlong_penalty)
                for n in lengths
            ]
            components["overlong"] = penalties
            totals = [t + p for t, p in zip(totals, penalties, strict=True)]
        return StepRewards(torch.tensor(totals, dtype=torch.float32), components)
