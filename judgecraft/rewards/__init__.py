"""judgecraft's scores as rewards: reward functions for TRL and `compute_score` for verl.

Split by audience: `trl` (reward functions for GRPOTrainer), `verl` (`compute_score`),
`async_rewards` (AsyncReward and its adapters, for judges and other slow scorers), all scoring
through `session` (one scoring pass per batch shared by every function with the same settings).

    from judgecraft.rewards import trl_rewards
    funcs, weights = trl_rewards("pkv", stage="round2")
    GRPOTrainer(model=..., reward_funcs=funcs, args=GRPOConfig(..., reward_weights=weights), ...)

verl loads this file by path (`custom_reward_function.path=judgecraft.rewards.__file__`, name
`compute_score`), as a module outside the package, so the imports here are absolute.
"""

from judgecraft.rewards.async_rewards import AsyncReward, AwaitableReward, RewardBatch, ThreadedReward
from judgecraft.rewards.session import (
    _SESSIONS,
    VERDICT_COMPONENTS,
    ScoringSession,
    session_for,
    total_or_none,
)
from judgecraft.rewards.trl import ComponentReward, JudgecraftReward, TotalReward, component_rewards, trl_rewards
from judgecraft.rewards.verl import compute_score
from judgecraft.rows import answers_from, gold_text
from judgecraft.settings import ScoringSettings

__all__ = [
    "VERDICT_COMPONENTS",
    "_SESSIONS",
    "AsyncReward",
    "AwaitableReward",
    "ComponentReward",
    "JudgecraftReward",
    "RewardBatch",
    "ScoringSession",
    "ScoringSettings",
    "ThreadedReward",
    "TotalReward",
    "answers_from",
    "component_rewards",
    "compute_score",
    "gold_text",
    "session_for",
    "total_or_none",
    "trl_rewards",
]
