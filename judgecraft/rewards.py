"""judgecraft's scores as rewards: reward functions for TRL and `compute_score` for verl.

TRL (GRPOTrainer, 1.x) calls each reward function as
`f(prompts=..., completions=..., completion_ids=..., **columns)` with every other dataset column
as a keyword list (plus `trainer_state`, `log_extra`, `log_metric`), expects one float or None per
completion (None: not applicable; TRL turns it into NaN and leaves it out of the sum and the means),
and logs each function's mean as `rewards/<__name__>/mean`. Its async trainer pickles the functions
into a spawned process and runs synchronous ones in threads, concurrently.

So every reward here is a small picklable class that carries only its settings. Functions with the
same settings share one scoring session per process (looked up by those settings), which keeps a
bounded cache of breakdowns keyed by (completion, gold answer, prefill): for a batch, the first
function scores each completion once and the others read the cache, so a combined reward plus
seven logged components cost one scoring pass, not eight. A lock makes the session safe for TRL's
threads; the functions that wait on it find their rows already scored.

    from judgecraft.rewards import trl_rewards
    funcs, weights = trl_rewards("pkv", stage="round2")
    GRPOTrainer(model=..., reward_funcs=funcs, args=GRPOConfig(..., reward_weights=weights), ...)

verl: `compute_score(data_source, solution_str, ground_truth, extra_info=None, **reward_kwargs)`
returns {"score": total, "acc": ..., "<component>": value, ...}; see its docstring.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from judgecraft.io import DEFAULT_ANSWER_FIELDS, completion_text, usable_prompt
from judgecraft.scorer import Breakdown, Scorer, prefill_from_prompt

log = logging.getLogger(__name__)

# Components that apply only with a judge verdict (judgecraft.judge); always None in the rule-based rewards.
VERDICT_COMPONENTS = ("judge_winner", "judge_quality", "judge_reflection")

# ---------------------------------------------------------------- settings and the shared session


def _key_part(value: Any) -> Any:
    """A hashable, stable form of a setting (objects such as tokenizers count by identity)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict | list | tuple):
        try:
            return json.dumps(value, sort_keys=True)
        except TypeError:
            pass
    return ("object", id(value))


@dataclass(frozen=True, eq=False)
class ScoringSettings:
    """What decides a breakdown. Reward functions carry these (picklable) and share sessions by them."""

    construct: Any = "pkv"  # a built-in name, a path to a TOML spec, or a Construct
    stage: str | None = None
    weights: dict[str, float] | None = None
    params: dict[str, dict[str, Any]] | None = None
    tokenizer: Any = None  # a Hugging Face name or a tokenizer object (for length in tokens)
    answer_timeout: float = 5.0
    use_math_verify: bool = True
    cache_size: int = 8192

    def key(self) -> tuple[Any, ...]:
        return tuple(_key_part(getattr(self, name)) for name in self.__dataclass_fields__)

    def build(self) -> Scorer:
        return Scorer(
            self.construct,
            stage=self.stage,
            weights=self.weights,
            params=self.params,
            tokenizer=self.tokenizer,
            answer_timeout=self.answer_timeout,
            use_math_verify=self.use_math_verify,
        )


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
        answers: Sequence[Any],
        prefills: Sequence[str | None] | None = None,
    ) -> list[Breakdown]:
        """One Breakdown per completion, in order, each scored at most once while it stays cached.

        A prefill is inferred from the prompt (as `Scorer.score` does) unless given.
        """
        construct = self.scorer.construct
        prefills = prefills if prefills is not None else [None] * len(completions)
        out: list[Breakdown] = []
        with self._lock:
            for prompt, completion, answer, prefill in zip(prompts, completions, answers, prefills, strict=True):
                text = completion_text(completion)
                if text is None:  # not text: the scorer gives floor scores and says why (never cached)
                    out.append(self.scorer.score(completion, answer=answer, prefill=prefill or ""))
                    self.scored += 1
                    continue
                gold = gold_text(answer)
                if prefill is None:
                    prefill = prefill_from_prompt(usable_prompt(prompt), construct)
                key = (text, gold, prefill)
                bd = self._cache.get(key)
                if bd is None:
                    bd = self.scorer.score(text, answer=gold, prefill=prefill)
                    self.scored += 1
                    self._cache[key] = bd
                    if len(self._cache) > self.settings.cache_size:
                        self._cache.popitem(last=False)
                else:
                    self.reused += 1
                    self._cache.move_to_end(key)
                out.append(bd)
        return out


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


def answers_from(kwargs: dict[str, Any], n: int, fields: Sequence[str]) -> list[Any]:
    """The gold answers of a batch: the first of `fields` that TRL passed as a column of length n."""
    for name in fields:
        column = kwargs.get(name)
        if isinstance(column, list | tuple) and len(column) == n:
            return [None if a is None or (isinstance(a, str) and not a.strip()) else a for a in column]
    return [None] * n


# ---------------------------------------------------------------- synchronous reward functions


class JudgecraftReward:
    """Base of the rule-based rewards: settings in, `__call__` with TRL's signature out.

    Args:
        construct, stage, weights, params, tokenizer, answer_timeout: as for `Scorer`.
        answer_field: the dataset column with the gold answer, or several to try in order
            (default "answer", then "solution"; MATH-style solutions with \\boxed{} work).
        name: the name TRL logs the function under (`rewards/<name>/mean`).
    """

    default_name = "judgecraft"

    def __init__(
        self,
        construct: Any = "pkv",
        stage: str | None = None,
        *,
        weights: dict[str, float] | None = None,
        params: dict[str, dict[str, Any]] | None = None,
        tokenizer: Any = None,
        answer_timeout: float = 5.0,
        use_math_verify: bool = True,
        answer_field: str | Sequence[str] = DEFAULT_ANSWER_FIELDS,
        cache_size: int = 8192,
        name: str | None = None,
    ):
        self.settings = ScoringSettings(
            construct, stage, weights, params, tokenizer, answer_timeout, use_math_verify, cache_size
        )
        self.answer_fields = (answer_field,) if isinstance(answer_field, str) else tuple(answer_field)
        self.__name__ = name or self.default_name
        session_for(self.settings)  # fail now on a bad construct, stage or weight, not in the first training step

    @property
    def session(self) -> ScoringSession:
        return session_for(self.settings)

    @property
    def scorer(self) -> Scorer:
        return self.session.scorer

    def breakdowns(self, prompts: Sequence[Any] | None, completions: Sequence[Any], **kwargs: Any) -> list[Breakdown]:
        n = len(completions)
        prompts = list(prompts) if prompts is not None else [None] * n
        return self.session.breakdowns(prompts, completions, answers_from(kwargs, n, self.answer_fields))

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float | None]:
        return [self.value(bd) for bd in self.breakdowns(prompts, completions, **kwargs)]

    def value(self, bd: Breakdown) -> float | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__name__!r}, construct={self.settings.construct!r})"


class TotalReward(JudgecraftReward):
    """The weighted total of the stage's components (what `Scorer.score(...).total` gives).

    None when no active component applies (e.g. a correctness-only stage and no gold answer).
    With `log_components=True` it also logs each component's batch mean through TRL's `log_metric`
    (as `judgecraft/<component>`), for trainers that sum every reward function with weight 1.
    """

    default_name = "total"

    def __init__(self, *args: Any, log_components: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.log_components = log_components

    def value(self, bd: Breakdown) -> float | None:
        return total_or_none(bd, self.scorer)

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float | None]:
        bds = self.breakdowns(prompts, completions, **kwargs)
        log_metric = kwargs.get("log_metric")
        if self.log_components and callable(log_metric):
            for name in self.scorer.components:
                values = [v for bd in bds if (v := bd.components[name].value) is not None]
                if values:
                    log_metric(f"judgecraft/{name}", sum(values) / len(values))
        return [self.value(bd) for bd in bds]


class ComponentReward(JudgecraftReward):
    """One component's value (unweighted), named after the component; None where it does not apply."""

    def __init__(self, component: str, *args: Any, name: str | None = None, **kwargs: Any):
        super().__init__(*args, name=name or component, **kwargs)
        if component not in self.scorer.components:
            raise ValueError(f"{component!r} is not a component of {self.scorer.construct.name!r}: "
                             f"{list(self.scorer.components)}")  # fmt: skip
        self.component = component

    def value(self, bd: Breakdown) -> float | None:
        return bd.components[self.component].value


def component_rewards(
    construct: Any = "pkv", stage: str | None = None, components: Sequence[str] | None = None, **settings: Any
) -> list[ComponentReward]:
    """One ComponentReward per component (default: every component the construct computes)."""
    names = components if components is not None else TotalReward(construct, stage, **settings).scorer.components
    return [ComponentReward(name, construct, stage, **settings) for name in names]


def trl_rewards(
    construct: Any = "pkv",
    stage: str | None = None,
    *,
    combine: bool = True,
    log: Sequence[str] | None = None,
    **settings: Any,
) -> tuple[list[JudgecraftReward], list[float]]:
    """Reward functions and `GRPOConfig.reward_weights` for a construct and stage.

    combine=True: [TotalReward, *components] with weights [1, 0, ...]: the policy is trained on the
    total, and each component is logged as `rewards/<component>/mean` (weight 0: logged, not summed).
    The judge's components need a verdict, which rule rewards never have, so they are not logged by
    default (use `judgecraft.judge.JudgeReward` for them).
    combine=False: the stage's active components with their stage weights: TRL's weighted sum then
    equals the Scorer's total, and `multi_objective_aggregation="normalize_then_sum"` (GDPO) becomes
    possible. `log` picks the logged components (default: all for combine=True, active ones otherwise).
    Every function shares one scoring pass per batch.
    """
    log_components = settings.pop("log_components", False)
    total = TotalReward(construct, stage, log_components=log_components, **settings)
    scorer = total.scorer
    if combine:
        names = list(log) if log is not None else [n for n in scorer.components if n not in VERDICT_COMPONENTS]
        funcs: list[JudgecraftReward] = [total, *(ComponentReward(n, construct, stage, **settings) for n in names)]
        return funcs, [1.0] + [0.0] * len(names)
    active = scorer.active
    names = list(active) + [n for n in (log or ()) if n not in active]
    funcs = [ComponentReward(n, construct, stage, **settings) for n in names]
    return funcs, [active.get(n, 0.0) for n in names]


# ---------------------------------------------------------------- asynchronous rewards


@dataclass
class RewardBatch:
    """What an async reward receives: the batch as TRL passed it, with texts and gold answers resolved."""

    prompts: list[Any]
    completions: list[Any]
    texts: list[str | None]  # completion text (assistant content); None where the completion is not text
    answers: list[Any]
    columns: dict[str, Any] = field(default_factory=dict)  # the other keyword arguments (dataset columns, ...)

    def __len__(self) -> int:
        return len(self.completions)


class AsyncReward:
    """Base of async reward functions: TRL awaits `__call__`; subclasses implement `ascore(batch)`.

    TRL (GRPOTrainer and its async trainer) runs async reward functions on an event loop of their
    own, concurrently with each other, so a slow judge does not hold up the rule-based rewards.
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


# ---------------------------------------------------------------- verl


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

    Configure verl with `custom_reward_function.path=<this file>` and `custom_reward_function.name=compute_score`;
    `custom_reward_function.reward_kwargs` may set `construct`, `stage`, `weights` and `params`.
    "score" is the Scorer's total (0.0 when nothing applies: verl has no "not scored"). verl's reward
    managers take "score" as the reward and collect every other key into
    `reward_extra_info`, which needs the same keys, all numbers, in every row: so a component
    that does not apply is `not_applicable` (NaN by default), never missing or None. `extra_info`
    may carry the row's "prompt" (text or chat messages) or "prefill", so a prefilled construct is
    scored as the continuation it is.
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


def gold_text(ground_truth: Any) -> str | None:
    """A gold answer as text: a string, a number, or a list/array of acceptable answers (the first is used).

    verl stores ground truth that way, and TRL datasets often do too; both paths use this, so they agree.
    """
    if isinstance(ground_truth, list | tuple):
        ground_truth = ground_truth[0] if ground_truth else None
    if hasattr(ground_truth, "tolist") and not isinstance(ground_truth, str):
        ground_truth = ground_truth.tolist()
        if isinstance(ground_truth, list):
            ground_truth = ground_truth[0] if ground_truth else None
    if ground_truth is None or (isinstance(ground_truth, str) and not ground_truth.strip()):
        return None
    return str(ground_truth)
