"""Group-relative advantages and the clipped policy losses (grpo, dr_grpo, dapo).

The three losses differ only in how token losses are averaged, which is what decides whether long
and short completions pull with equal force:
- grpo (DeepSeekMath): mean over each completion's tokens, then mean over completions.
- dr_grpo (Dr. GRPO): sum over tokens divided by a constant (completions x max completion length),
  usually with unscaled advantages, which removes the length and difficulty biases.
- dapo (DAPO): mean over all tokens of the batch, with a wider upper clip (clip-higher).
Every normaliser is for the whole step's batch, so the micro-batch losses add up to exactly the loss of
one big batch however the batch is split for memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

STD_EPS = 1e-4


@dataclass
class Advantages:
    values: torch.Tensor  # one per completion
    zero_std: torch.Tensor  # bool per completion: its group's rewards were all equal (advantage exactly 0)

    @property
    def zero_std_share(self) -> float:
        """Share of groups that carry no learning signal (every completion scored the same)."""
        return float(self.zero_std.float().mean()) if self.zero_std.numel() else 0.0


def group_advantages(rewards: torch.Tensor, group_size: int, scale: str = "group") -> Advantages:
    """(reward - group mean), divided by the group's std ("group"), the batch's std ("batch") or nothing ("none").

    Completions come in consecutive groups of `group_size` per prompt. A group whose rewards are all equal
    gets advantages of exactly 0 (not 0/0 = NaN) and is flagged.
    """
    if rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    grouped = rewards.float().view(-1, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    group_std = grouped.std(dim=1, keepdim=True, unbiased=True) if group_size > 1 else torch.zeros_like(centred)
    flat_groups = (grouped.max(dim=1, keepdim=True).values - grouped.min(dim=1, keepdim=True).values) == 0
    if scale == "group":
        centred = centred / (group_std + STD_EPS)
    elif scale == "batch":
        centred = centred / (rewards.float().std() + STD_EPS) if rewards.numel() > 1 else centred
    elif scale != "none":
        raise ValueError(f"scale must be group, batch or none, not {scale!r}")
    centred = torch.where(flat_groups, torch.zeros_like(centred), centred)
    return Advantages(centred.reshape(-1), flat_groups.expand_as(grouped).reshape(-1))


@dataclass
class LossNormaliser:
    """The whole batch's counts, fixed before it is cut into micro-batches."""

    kind: str
    sequences: int
    tokens: int
    max_completion_tokens: int

    def reduce(self, token_loss: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """This micro-batch's share of the batch loss (micro-batch shares sum to the batch loss)."""
        if self.kind == "grpo":
            per_sequence = (token_loss * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            return per_sequence.sum() / max(self.sequences, 1)
        if self.kind == "dr_grpo":
            return (token_loss * mask).sum() / max(self.sequences * self.max_completion_tokens, 1)
        if self.kind == "dapo":
            return (token_loss * mask).sum() / max(self.tokens, 1)
        raise ValueError(f"unknown loss {self.kind!r}")


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token KL(policy || reference), the non-negative, unbiased "k3" estimator used by GRPO."""
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1


@dataclass
class LossStats:
    loss: float
    kl: float  # mean per token (0 when kl_coef is 0 and no reference was computed)
    clip_fraction: float  # share of tokens whose ratio was clipped
    capped_fraction: float = 0.0  # share of tokens whose ratio exceeded is_cap (truncated: no gradient)


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    normaliser: LossNormaliser,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    kl_coef: float = 0.0,
    ref_logp: torch.Tensor | None = None,
    is_cap: float = 0.0,
) -> tuple[torch.Tensor, LossStats]:
    """The clipped surrogate (plus kl_coef x KL) for one micro-batch; logp/old_logp/mask are [sequences, tokens].

    `mask` is 1 on completion tokens and 0 on padding (prompt tokens never enter these tensors).
    When `old_logp` are the sampler's log-probs, the ratio corrects for the sampler/trainer mismatch;
    `is_cap > 0` truncates it there (a token whose ratio is above the cap adds a bounded loss and no
    gradient), which bounds the negative-advantage side that the PPO clip leaves open.
    """
    mask = mask.to(logp.dtype)
    ratio = torch.exp(logp - old_logp)
    capped_fraction = 0.0
    if is_cap > 0:
        with torch.no_grad():
            capped_fraction = float(((ratio > is_cap).to(mask.dtype) * mask).sum() / mask.sum().clamp(min=1))
        ratio = torch.clamp(ratio, max=is_cap)
    adv = advantages.to(logp.dtype).unsqueeze(1)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1 - clip_low, 1 + clip_high) * adv
    token_loss = -torch.minimum(unclipped, clipped)
    kl_mean = 0.0
    if kl_coef > 0:
        if ref_logp is None:
            raise ValueError("kl_coef > 0 needs the reference log-probabilities")
        kl = kl_k3(logp, ref_logp)
        token_loss = token_loss + kl_coef * kl
        kl_mean = float((kl.detach() * mask).sum() / mask.sum().clamp(min=1))
    loss = normaliser.reduce(token_loss, mask)
    with torch.no_grad():
        was_clipped = ((ratio < 1 - clip_low) & (adv < 0)) | ((ratio > 1 + clip_high) & (adv > 0))
        clip_fraction = float((was_clipped.to(mask.dtype) * mask).sum() / mask.sum().clamp(min=1))
    return loss, LossStats(float(loss.detach()), kl_mean, clip_fraction, capped_fraction)
