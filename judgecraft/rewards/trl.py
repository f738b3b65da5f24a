"""TRL reward functions: small picklable classes that carry only their settings.

TRL (GRPOTrainer, 1.x) calls each reward function as
`f(prompts=..., completions=..., completion_ids=..., **columns)` with every other dataset column
as a keyword list (plus `trainer_state`, `log_extra`, `log_metric`), expects one float or None per
completion (None: not applicable; TRL turns it into NaN and leaves it out of the sum and the means),
and logs each function's mean as `rewards/<__name__>/mean`. Its async trainer pickles the functions
into a spawned process and runs synchronous ones in threads, concurrently. Every function here
scores through the shared session of its settings (`judgecraft.rewards.session`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from judgecraft.rewards.session import VERDICT_COMPONENTS, ScoringSession, session_for, total_or_none
from judgecraft.rows import DEFAULT_ANSWER_FIELDS, answers_from
from judgecraft.scorer import DEFAULT_MAX_SECTION_CHARS, Breakdown, Scorer
from judgecraft.settings import ScoringSettings


class JudgecraftReward:
    """Base of the rule-based rewards: settings in, `__call__` with TRL's signature out.

    Args:
        construct, stage, weights, params, tokenizer, answer_timeout, components, max_section_chars:
            as for `Scorer` (`components="weighted"` computes only what the total needs: the fastest
            set-up for a trainer that logs nothing else).
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
        components: Any = None,
        max_section_chars: int | None = DEFAULT_MAX_SECTION_CHARS,
        name: str | None = None,
    ):
        self.settings = ScoringSettings(
            construct, stage, weights, params, tokenizer, answer_timeout, use_math_verify, cache_size,
            components, max_section_chars,
        )  # fmt: skip
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
    if log is not None and not log_components and "components" not in settings:
        # Only the stage's weighted components and the logged ones are computed: nothing else is read.
        # The weighted names from a bare Scorer: a TotalReward here would leave a session behind, unused.
        weighted = Scorer(construct, stage, weights=settings.get("weights"), components="weighted").components
        settings["components"] = [*weighted, *(n for n in log if n not in weighted)]
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
