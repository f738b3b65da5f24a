"""The judge as a reward: an `AsyncReward` (async, picklable TRL reward function).

TRL's GRPOTrainer runs async reward functions on an event loop of its own, concurrently with its
other async rewards, and the HTTP backend sends the whole batch at once with bounded
concurrency, so a slow judge costs one round trip of the slowest request per step, not the sum.
`deadline` bounds even that: rows the judge has not answered by then get None (TRL then leaves
this reward out for those rows) instead of stalling the step. A judge failure is None too, never
an exception in the training loop.

    reward = JudgeReward("http://127.0.0.1:8000/v1#judge", construct="pkv",
                         weights={"judge_quality": 1.0, "judge_winner": 0.5}, deadline=120)
    GRPOTrainer(..., reward_funcs=[judgecraft_rewards..., reward])

The judge is built lazily from its spec in the process that calls it (TRL pickles reward
functions); pass a `Judge` instead of a spec only where the reward is never pickled.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from judgecraft.judge.verdict import JudgeError, JudgeSetupError
from judgecraft.rewards import VERDICT_COMPONENTS, AsyncReward, RewardBatch

log = logging.getLogger(__name__)
JUDGE_COMPONENTS = VERDICT_COMPONENTS  # one list: the components that read a verdict


class JudgeReward(AsyncReward):
    """Async TRL reward: the weighted sum of the judge's components for each completion (None if not judged)."""

    default_name = "judge"

    def __init__(
        self,
        judge: Any,
        construct: str = "pkv",
        weights: dict[str, float] | None = None,
        answer_fields: Sequence[str] = ("answer", "solution"),
        deadline: float | None = None,
        judge_options: dict[str, Any] | None = None,
        name: str | None = None,
    ):
        weights = dict(weights or {"judge_quality": 1.0})
        unknown = set(weights) - set(VERDICT_COMPONENTS)
        if unknown:
            raise ValueError(f"weights: {sorted(unknown)} are not judge components {VERDICT_COMPONENTS}")
        # The deadline is the judge's, per row (late rows get None); the base class would drop the whole batch.
        super().__init__(
            answer_field=tuple(answer_fields),
            deadline=None,
            name=name or "judge_" + "_".join(k.removeprefix("judge_") for k in weights),
        )
        self.spec = judge if isinstance(judge, str) else None
        self._judge = None if isinstance(judge, str) else judge
        self.construct = construct
        self.weights = weights
        self.judge_deadline = deadline
        self.judge_options = dict(judge_options or {})
        self._scorer = None

    # TRL pickles reward functions: travel as the spec, rebuild the judge where called.
    def __getstate__(self) -> dict[str, Any]:
        if self.spec is None:
            raise TypeError("a JudgeReward built from a Judge object cannot be pickled: pass the judge spec string")
        return {**self.__dict__, "_judge": None, "_scorer": None}

    @property
    def judge(self) -> Any:
        if self._judge is None:
            from judgecraft.judge.core import make_judge

            self._judge = make_judge(self.spec, self.construct, **self.judge_options)  # type: ignore[arg-type]
        return self._judge

    @property
    def scorer(self) -> Any:
        if self._scorer is None:
            from judgecraft.scorer import Scorer

            self._scorer = Scorer(self.construct, weights=self.weights, components=list(self.weights))
        return self._scorer

    async def ascore(self, batch: RewardBatch) -> list[float | None]:
        n = len(batch)
        judge = self.judge
        texts = [t or "" for t in batch.texts]
        items = [judge.item(p, t, a) for p, t, a in zip(batch.prompts, texts, batch.answers, strict=True)]
        try:
            verdicts = await judge.ajudge_many(items, deadline=self.judge_deadline)
        except JudgeSetupError as err:
            log.warning("judge unavailable, rewards are None for this batch: %s", err)
            verdicts = [JudgeError(str(err), "backend")] * n
        rewards: list[float | None] = []
        per_component: dict[str, list[float]] = {k: [] for k in self.weights}
        for prompt, text, answer, verdict in zip(batch.prompts, texts, batch.answers, verdicts, strict=True):
            bd = self.scorer.score(text, answer=answer, prompt=prompt, verdict=verdict)
            values = {k: bd.components[k].value for k in self.weights}
            for k, v in values.items():
                if v is not None:
                    per_component[k].append(v)
            rewards.append(None if all(v is None for v in values.values()) else bd.total)
        log_metric = batch.columns.get("log_metric")
        if callable(log_metric):
            for k, vals in per_component.items():
                if vals:
                    log_metric(f"judge/{k}", sum(vals) / len(vals))
            log_metric("judge/failed", sum(isinstance(v, JudgeError) for v in verdicts) / max(1, n))
        return rewards

    def sync(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        """The same, from synchronous code."""
        from judgecraft.judge.backend import run_sync

        return run_sync(lambda: self(prompts, completions, **kwargs))
