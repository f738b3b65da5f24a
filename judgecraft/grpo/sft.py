"""Stage 1 of the Shannon recipe: supervised fine-tuning of the LoRA policy on thinking traces.

The examples are prompt/completion pairs (what `judgecraft traces --sft` writes); the loss is the mean
negative log-likelihood of the completion tokens only, computed with the same chunked log-probs as the
GRPO update, so SFT and GRPO train the same adapter with the same memory profile.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from judgecraft.grpo.config import SFTConfig, read_training_rows
from judgecraft.grpo.logprobs import completion_logprobs, make_batch
from judgecraft.grpo.policy import Policy


def read_sft_examples(path: str | Path) -> list[dict[str, Any]]:
    """{"prompt": str or chat messages, "completion": str} per line; a broken line is an error naming it."""
    return read_training_rows(
        path,
        lambda r: isinstance(r.get("completion"), str) and "prompt" in r,
        "needs a prompt and a text completion",
        "examples",
    )


def encode_example(
    policy: Policy, prompt: Any, completion: str, system_prompt: str | None
) -> tuple[list[int], list[int]]:
    tok = policy.tokenizer
    messages = list(prompt) if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
    if system_prompt and not any(m.get("role") == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system_prompt})
    prompt_ids = tok(
        tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False), add_special_tokens=False
    )["input_ids"]
    completion_ids = tok(completion, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return prompt_ids, completion_ids


def _batches(
    examples: list[tuple[list[int], list[int]]], batch_size: int, seed: int
) -> Iterator[list[tuple[list[int], list[int]]]]:
    """Endless batches from seeded shuffles of the examples (every example once per epoch)."""
    rng = random.Random(seed)
    order: list[int] = []
    while True:
        picked = []
        while len(picked) < batch_size:
            if not order:
                order = list(range(len(examples)))
                rng.shuffle(order)
            picked.append(examples[order.pop()])
        yield picked


def run_sft(
    policy: Policy,
    config: SFTConfig,
    *,
    system_prompt: str | None = None,
    seed: int = 0,
    logprob_chunk: int = 512,
    metrics_path: Path | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """`config.steps` optimiser steps over shuffled examples; returns one metrics row per step."""
    examples = [
        encode_example(policy, r["prompt"], r["completion"], system_prompt) for r in read_sft_examples(config.data)
    ]
    examples = [(p, c[: config.max_tokens]) for p, c in examples]
    optimizer = torch.optim.AdamW(policy.trainable_parameters(), lr=config.learning_rate)
    device = next(policy.model.parameters()).device
    batches = _batches(examples, config.batch_size, seed)
    rows: list[dict[str, Any]] = []
    policy.model.train()
    columns = (
        TextColumn("sft"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("", total=config.steps)
        for step in range(config.steps):
            t0 = time.perf_counter()
            picked = next(batches)
            batch = make_batch([p for p, _ in picked], [c for _, c in picked], policy.tokenizer.pad_token_id).to(device)
            optimizer.zero_grad(set_to_none=True)
            logp = completion_logprobs(policy.model, batch, logprob_chunk)
            loss = -(logp * batch.completion_mask).sum() / batch.completion_mask.sum().clamp(min=1)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.trainable_parameters(), 1.0)
            optimizer.step()
            row = {"sft_step": step, "sft_loss": float(loss.detach()), "step_seconds": time.perf_counter() - t0}
            rows.append(row)
            if metrics_path is not None:
                with metrics_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
            bar.update(task, advance=1, description=f"loss {row['sft_loss']:.3f}")
    return rows
