"""Per-token log-probabilities of completion tokens without ever holding full-vocabulary logits.

A 32k-token completion over a 152k vocabulary is 5e9 logits (20 GB in fp32) per sequence; GRPO needs
only one number per token. So the decoder runs once, the hidden states of the completion positions
are picked out, and the output projection + log-softmax run over `chunk` positions at a time under
activation checkpointing: backward recomputes each chunk's logits instead of keeping them, so the
peak is `chunk x vocab` floats whatever the length.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint


@dataclass
class Batch:
    """Right-padded prompt+completion sequences and where each completion starts."""

    input_ids: torch.Tensor  # [B, L]
    attention_mask: torch.Tensor  # [B, L]
    completion_ids: torch.Tensor  # [B, T] (padding where mask is 0)
    completion_mask: torch.Tensor  # [B, T]
    prompt_lengths: torch.Tensor  # [B]

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(t.to(device) for t in dataclasses.astuple(self)))


def make_batch(prompts: list[list[int]], completions: list[list[int]], pad_id: int) -> Batch:
    """Concatenate each prompt with its completion and right-pad; completions are also kept on their own."""
    if len(prompts) != len(completions):
        raise ValueError("one prompt per completion")
    lengths = [len(p) + len(c) for p, c in zip(prompts, completions, strict=True)]
    width = max(lengths)
    t_max = max((len(c) for c in completions), default=0) or 1
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    comp = torch.full((len(prompts), t_max), pad_id, dtype=torch.long)
    comp_mask = torch.zeros((len(prompts), t_max), dtype=torch.float32)
    for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        seq = p + c
        input_ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attention[i, : len(seq)] = 1
        if c:
            comp[i, : len(c)] = torch.tensor(c, dtype=torch.long)
            comp_mask[i, : len(c)] = 1
    return Batch(input_ids, attention, comp, comp_mask, torch.tensor([len(p) for p in prompts], dtype=torch.long))


def _chunk_logprobs(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, temperature: float
) -> torch.Tensor:
    logits = (hidden @ weight.t()).float()
    if temperature != 1.0:
        logits = logits / temperature
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def split_causal_lm(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The decoder (hidden states) and the output projection of an HF causal LM, LoRA-wrapped or not."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder()
    head = base.get_output_embeddings()
    if decoder is None or head is None:
        raise TypeError(f"{type(base).__name__} does not expose get_decoder()/get_output_embeddings()")
    return decoder, head


def completion_logprobs(
    model: torch.nn.Module, batch: Batch, chunk: int = 512, temperature: float = 1.0
) -> torch.Tensor:
    """log p(completion token | everything before it), shape [B, T]; padding positions hold 0."""
    decoder, head = split_causal_lm(model)
    hidden = decoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False)
    hidden = hidden.last_hidden_state if hasattr(hidden, "last_hidden_state") else hidden[0]
    t_max = batch.completion_ids.shape[1]
    # Position p-1+t predicts completion token t.
    offsets = torch.arange(t_max, device=hidden.device)
    positions = (batch.prompt_lengths.to(hidden.device).unsqueeze(1) - 1 + offsets).clamp(max=hidden.shape[1] - 1)
    picked = hidden.gather(1, positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
    targets = batch.completion_ids.to(hidden.device)
    weight = head.weight
    pieces = []
    for start in range(0, t_max, chunk):
        h, y = picked[:, start : start + chunk], targets[:, start : start + chunk]
        if torch.is_grad_enabled():
            pieces.append(checkpoint(_chunk_logprobs, h, weight, y, temperature, use_reentrant=False))
        else:
            pieces.append(_chunk_logprobs(h, weight, y, temperature))
    logp = torch.cat(pieces, dim=1)
    return logp * batch.completion_mask.to(logp.device)
