"""Per-token log-probabilities of completion tokens without ever holding full-vocabulary logits.

A 32k-token completion over a 152k vocabulary is 5e9 logits (20 GB in fp32) per sequence; GRPO needs
only one number per token. So the decoder runs once, the hidden states of the completion positions
are picked out, and the output projection + log-softmax run over `chunk` positions at a time under
activation checkpointing: backward recomputes each chunk's logits instead of keeping them, so the
peak is `chunk x vocab` floats whatever the length.

The G completions of a group share one prompt, often most of each sequence. Unless the decoder
checkpoints its layers, the prompt runs once per distinct prompt (with gradient: LoRA acts on prompt
positions and every completion attends to their keys and values), its KV cache is indexed out to the G
rows (an index_select, so gradients flow back through it), and only the completion tokens run on top.
That is the same function of the same weights as running every prompt+completion in full; only the
work on the prompt is divided by G. Layer checkpointing re-runs each layer in backward, which would
append to the cache a second time, so it keeps the full sequences.
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
    prefix_ids: torch.Tensor  # [U, P] each distinct prompt once, right-padded
    prefix_mask: torch.Tensor  # [U, P]
    prefix_index: torch.Tensor  # [B] row i's prompt is prefix row prefix_index[i]

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
    distinct: dict[tuple[int, ...], int] = {}
    index = [distinct.setdefault(tuple(p), len(distinct)) for p in prompts]
    p_max = max((len(p) for p in distinct), default=0) or 1
    prefix_ids = torch.full((len(distinct), p_max), pad_id, dtype=torch.long)
    prefix_mask = torch.zeros((len(distinct), p_max), dtype=torch.long)
    for p, u in distinct.items():
        prefix_ids[u, : len(p)] = torch.tensor(p, dtype=torch.long)
        prefix_mask[u, : len(p)] = 1
    lengths_t = torch.tensor([len(p) for p in prompts], dtype=torch.long)
    index_t = torch.tensor(index, dtype=torch.long)
    return Batch(input_ids, attention, comp, comp_mask, lengths_t, prefix_ids, prefix_mask, index_t)


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


def _last_hidden(output: object) -> torch.Tensor:
    return output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]


def shares_prompts(decoder: torch.nn.Module, batch: Batch) -> bool:
    """Whether the prompt-once path applies: some prompt repeats and the layers are not checkpointed."""
    if batch.prefix_ids.shape[0] == batch.input_ids.shape[0]:
        return False
    return not any(getattr(m, "gradient_checkpointing", False) for m in decoder.modules())


def _full_hidden(decoder: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """[B, T, H]: the hidden state that predicts each completion token, from full prompt+completion rows."""
    hidden = _last_hidden(decoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False))
    t_max = batch.completion_ids.shape[1]
    # Position p-1+t predicts completion token t.
    offsets = torch.arange(t_max, device=hidden.device)
    positions = (batch.prompt_lengths.to(hidden.device).unsqueeze(1) - 1 + offsets).clamp(max=hidden.shape[1] - 1)
    return hidden.gather(1, positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))


def _shared_hidden(decoder: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """The same [B, T, H] as `_full_hidden`, running each distinct prompt once and its cache under G completions."""
    first = decoder(input_ids=batch.prefix_ids, attention_mask=batch.prefix_mask, use_cache=True)
    index = batch.prefix_index
    # The last prompt position predicts completion token 0.
    last = _last_hidden(first)[index, batch.prompt_lengths - 1].unsqueeze(1)
    t_max = batch.completion_ids.shape[1]
    if t_max == 1:
        return last
    cache = first.past_key_values
    cache.reorder_cache(index)  # [U, ...] -> [B, ...]; differentiable, so prompt positions get their gradient
    # Completion tokens 0..T-2 predict tokens 1..T-1; they sit right after their own prompt (right padding
    # of shorter prompts is masked out, and positions continue from each row's own prompt length).
    mask = torch.cat([batch.prefix_mask[index], batch.completion_mask[:, :-1].long()], dim=1)
    positions = batch.prompt_lengths.unsqueeze(1) + torch.arange(t_max - 1, device=index.device)
    rest = decoder(
        input_ids=batch.completion_ids[:, :-1],
        attention_mask=mask,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
    )
    return torch.cat([last, _last_hidden(rest)], dim=1)


def completion_logprobs(
    model: torch.nn.Module, batch: Batch, chunk: int = 512, temperature: float = 1.0, share_prompts: bool = True
) -> torch.Tensor:
    """log p(completion token | everything before it), shape [B, T]; padding positions hold 0."""
    decoder, head = split_causal_lm(model)
    if share_prompts and shares_prompts(decoder, batch):
        picked = _shared_hidden(decoder, batch)
    else:
        picked = _full_hidden(decoder, batch)
    t_max = batch.completion_ids.shape[1]
    targets = batch.completion_ids.to(picked.device)
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
