"""Asynchronous reward functions for TRL: a base that never lets a failure stop training, and two adapters.

TRL (GRPOTrainer and its async trainer) runs async reward functions on an event loop of their own,
concurrently with each other, so a slow judge does not hold up the rule-based rewards.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from judgecraft.rows import DEFAULT_ANSWER_FIELDS, answers_from, completion_text

log = logging.getLogger("judgecraft.rewards")


@dataclass
class RewardBatch:
    """What an async reward receives: the batch as TRL passed it, with texts and gold answers resolved."""

    prompts: list[Any]
    completions: list[Any]
    texts: list[str | None]  # completion text (assistant content); None where the completion is not text
    answers: list[str | None]  # gold answers as text (None: no gold answer)
    columns: dict[str, Any] = field(default_factory=dict)  # the other keyword arguments (dataset columns, ...)

    def __len__(self) -> int:
        return len(self.completions)


class AsyncReward:
    """Base of async reward functions: TRL awaits `__call__`; subclasses implement `ascore(batch)`.

    `deadline` (seconds) bounds one batch: past it, or when `ascore` fails, every row of the batch
    gets None (left out of the reward by TRL) and the reason is logged; training never stops on it.
    """

    default_name = "async_reward"

    def __init__(
        self,
        *,
        answer_field: str | Sequence[str] = DEFAULT_ANSWER_FIELDS,
        deadline: float | None = None,
        name: str | None = None,
    ):
        self.answer_fields = (answer_field,) if isinstance(answer_field, str) else tuple(answer_field)
        self.deadline = deadline
        self.__name__ = name or self.default_name

    async def ascore(self, batch: RewardBatch) -> list[float | None]:
        raise NotImplementedError

    async def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float | None]:
        n = len(completions)
        batch = RewardBatch(
            prompts=list(prompts) if prompts is not None else [None] * n,
            completions=list(completions),
            texts=[completion_text(c) for c in completions],
            answers=answers_from(kwargs, n, self.answer_fields),
            columns=kwargs,
        )
        try:
            if self.deadline is None:
                values = await self.ascore(batch)
            else:
                values = await asyncio.wait_for(self.ascore(batch), self.deadline)
        except TimeoutError:
            log.warning("%s: no result within %.1fs; rewards are None for this batch", self.__name__, self.deadline)
            return [None] * n
        except Exception as err:  # a reward must never stop training: None is "not scored", and it is logged
            log.warning("%s failed; rewards are None for this batch: %s: %s", self.__name__, type(err).__name__, err)
            return [None] * n
        values = list(values)
        if len(values) != n:
            log.warning("%s returned %d rewards for %d completions; None for all", self.__name__, len(values), n)
            return [None] * n
        return [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]


class AwaitableReward(AsyncReward):
    """An async reward around any awaitable scorer: `async def fn(batch: RewardBatch) -> list[float | None]`.

    `fn` must be picklable (a module-level function or a picklable object) for TRL's async trainer.
    """

    def __init__(self, fn: Callable[[RewardBatch], Awaitable[Sequence[float | None]]], **kwargs: Any):
        super().__init__(**kwargs)
        if kwargs.get("name") is None:
            self.__name__ = getattr(fn, "__name__", type(fn).__name__)
        self.fn = fn

    async def ascore(self, batch: RewardBatch) -> list[float | None]:
        return list(await self.fn(batch))


class ThreadedReward(AsyncReward):
    """A synchronous reward function run in a worker thread, for trainers that want every reward async."""

    def __init__(self, reward: Callable[..., list[float | None]], **kwargs: Any):
        super().__init__(**kwargs)
        if kwargs.get("name") is None:
            self.__name__ = getattr(reward, "__name__", type(reward).__name__)
        self.reward = reward

    async def ascore(self, batch: RewardBatch) -> list[float | None]:
        return await asyncio.to_thread(self.reward, batch.prompts, batch.completions, **batch.columns)
