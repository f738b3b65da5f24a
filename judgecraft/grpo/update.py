"""The policy update on one batch of rollouts: micro-batches, the `old` policy, the clipped loss, one optimiser step.

The `old` log-probs of the clipped ratio are the sampler's own (vLLM's, for the tokens it drew) when the
off-policy correction is on: the ratio then measures how far the trained policy is from the one that
really sampled, and is truncated at `is_cap`. Without the sampler's log-probs (HF rollouts, or
`is_cap = 0`) `old` is the trainer's own at the start of the update, as in plain GRPO. The gap between
the sampler's and the trainer's log-probs is logged either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from judgecraft.grpo.config import TrainConfig
from judgecraft.grpo.logprobs import Batch, completion_logprobs, make_batch
from judgecraft.grpo.losses import LossNormaliser, policy_loss


@dataclass
class Rollouts:
    """One step's training data, one entry per completion."""

    prompts: list[list[int]]
    completions: list[list[int]]
    advantages: torch.Tensor
    sampler_logprobs: list[list[float] | None]
    trainable: list[bool]  # False: masked out (a truncated completion under mask_truncated)


def padded(rows: list[list[float]], width: int) -> torch.Tensor:
    out = torch.zeros((len(rows), width), dtype=torch.float32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.float32)
    return out


def selected(cfg: TrainConfig, data: Rollouts) -> list[int]:
    """The completions that enter the update: trainable ones, minus zero-advantage ones when they add nothing."""
    skip = cfg.skip_zero_advantage and cfg.kl_coef == 0  # without KL, advantage 0 means gradient 0
    return [i for i in range(len(data.completions)) if data.trainable[i] and not (skip and data.advantages[i] == 0)]


def fixed_logprobs(cfg: TrainConfig, policy: Any, batches: list[Batch]) -> tuple[list[Any], list[Any]]:
    """The trainer's own `old` log-probs (only when several passes need them) and the reference's (only with KL)."""
    old: list[torch.Tensor | None] = [None] * len(batches)
    ref: list[torch.Tensor | None] = [None] * len(batches)
    with torch.no_grad():
        for j, b in enumerate(batches):
            if cfg.updates_per_batch > 1:
                old[j] = completion_logprobs(policy.model, b, cfg.logprob_chunk, cfg.temperature)
            if cfg.kl_coef > 0:
                with policy.reference():
                    ref[j] = completion_logprobs(policy.model, b, cfg.logprob_chunk, cfg.temperature)
    return old, ref


def policy_update(cfg: TrainConfig, policy: Any, optimizer: torch.optim.Optimizer, data: Rollouts) -> dict[str, Any]:
    """One update (`updates_per_batch` passes); returns loss, kl, clip and sampler-gap statistics."""
    keep = selected(cfg, data)
    stats: dict[str, Any] = {"loss": 0.0, "kl": 0.0, "clip_fraction": 0.0, "capped_fraction": 0.0}
    stats.update({"trained_sequences": len(keep), "grad_norm": 0.0, "logprob_gap": None, "logprob_gap_abs": None})
    if not keep:
        return stats
    device = next(policy.model.parameters()).device
    normaliser = LossNormaliser(
        cfg.loss, len(keep), sum(len(data.completions[i]) for i in keep), cfg.max_completion_tokens
    )
    micro = [keep[i : i + cfg.micro_batch] for i in range(0, len(keep), cfg.micro_batch)]
    pad = policy.tokenizer.pad_token_id
    batches = [
        make_batch([data.prompts[i] for i in m], [data.completions[i] for i in m], pad).to(device) for m in micro
    ]
    have_sampler = all(data.sampler_logprobs[i] is not None for i in keep)
    sampler = [
        padded([data.sampler_logprobs[i] for i in m], b.completion_ids.shape[1]).to(device) if have_sampler else None
        for m, b in zip(micro, batches, strict=True)
    ]
    old, ref = fixed_logprobs(cfg, policy, batches)
    if have_sampler and cfg.is_cap > 0:
        old = sampler  # the off-policy correction: the ratio is against the policy that really sampled
    params = policy.trainable_parameters()
    policy.model.train()
    gap, gap_abs, tokens = 0.0, 0.0, 0.0
    for epoch in range(cfg.updates_per_batch):
        optimizer.zero_grad(set_to_none=True)
        for j, (m, b) in enumerate(zip(micro, batches, strict=True)):
            logp = completion_logprobs(policy.model, b, cfg.logprob_chunk, cfg.temperature)
            if epoch == 0 and sampler[j] is not None:
                diff = (logp.detach() - sampler[j]) * b.completion_mask
                gap, gap_abs = gap + float(diff.sum()), gap_abs + float(diff.abs().sum())
                tokens += float(b.completion_mask.sum())
            loss, s = policy_loss(
                logp,
                old[j] if old[j] is not None else logp.detach(),
                data.advantages[m].to(device),
                b.completion_mask,
                normaliser,
                clip_low=cfg.clip_low,
                clip_high=cfg.effective_clip_high,
                kl_coef=cfg.kl_coef,
                ref_logp=ref[j],
                is_cap=cfg.is_cap if old[j] is not None else 0.0,
            )
            loss.backward()
            share = len(m) / len(keep) / cfg.updates_per_batch
            stats["loss"] += s.loss / cfg.updates_per_batch
            for key in ("kl", "clip_fraction", "capped_fraction"):
                stats[key] += getattr(s, key) * share
        norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
    stats["grad_norm"] = float(norm)
    if tokens:
        stats["logprob_gap"], stats["logprob_gap_abs"] = gap / tokens, gap_abs / tokens
    return stats
