"""The settings of one training run, read from a TOML file (`judgecraft train --config run.toml`).

Every field has a default that trains SmolLM2-135M on the CPU; a 14B run changes the model, the
lengths and the dtype. Unknown keys are errors (a typo must not silently train with a default),
and every error names the file, the key and what is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOSSES = ("grpo", "dr_grpo", "dapo")
SCALES = ("group", "batch", "none")
ROLLOUTS = ("vllm", "hf")
WEIGHT_SYNCS = ("auto", "lora", "merge")
DTYPES = ("float32", "bfloat16", "float16")
SCHEDULES = ("constant", "linear", "cosine")
# vLLM's accepted max_lora_rank values (vllm.config.lora.MaxLoRARanks in vllm 0.32; a test compares them).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


TRUNCATED_SAMPLING = (
    "must stay off: the trainer's log-probs (and the off-policy ratio) are over the full vocabulary, so "
    "sampling from a truncated distribution would bias the update; use temperature instead"
)


class TrainConfigError(ValueError):
    """A bad training config: says which file, which key and what is wrong."""

    def __init__(self, source: str, key: str, problem: str):
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: [{key}] {problem}")


@dataclass
class SFTConfig:
    """Stage 1 of the Shannon recipe: supervised fine-tuning on trace records before GRPO."""

    data: str = ""  # JSONL of {"prompt": ..., "completion": ...} (what `judgecraft traces --sft` writes)
    steps: int = 0  # 0 = no SFT stage
    batch_size: int = 4
    learning_rate: float = 2e-4
    max_tokens: int = 1024


@dataclass
class TrainConfig:
    # what to train
    model: str = "smollm2"  # an HF model folder, or "smollm2" for the bundled small model
    data: str = "examples/questions.jsonl"  # JSONL with a question and a gold answer per line
    question_field: str = "question"
    answer_field: str = "answer"
    construct: str = "pkv"
    stage: str | None = None  # the construct's stage (its default stage when None)
    weights: dict[str, float] = field(default_factory=dict)  # component weight overrides
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # component parameter overrides
    system_prompt: str | None = None  # None = the construct's system prompt; "" = none
    prefill: bool | str = False  # true: the construct's prefill; a string: that text (scored as its continuation)
    # the algorithm
    steps: int = 40
    prompts_per_step: int = 2
    group_size: int = 4
    max_prompt_tokens: int = 1024
    max_completion_tokens: int = 128
    temperature: float = 1.0
    top_p: float = 1.0  # only 1.0: the trainer's log-probs are over the full vocabulary (see validate)
    top_k: int = -1  # only -1 (off), for the same reason
    loss: str = "grpo"  # grpo | dr_grpo | dapo
    scale_rewards: str | None = None  # group | batch | none (None: "none" for dr_grpo, else "group")
    clip_low: float = 0.2
    clip_high: float | None = None  # None: 0.28 for dapo, else clip_low
    kl_coef: float = 0.0  # 0 = no reference pass at all
    updates_per_batch: int = 1  # PPO-style passes over each batch of rollouts (mu)
    skip_zero_advantage: bool = True  # without KL, completions with advantage 0 add no gradient: skip their pass
    # off-policy correction: the sampler's (vLLM's) log-probs are the `old` policy of the clipped ratio,
    # and that ratio is truncated at `is_cap` (dual-clip / truncated importance sampling); 0 = off
    is_cap: float = 2.0
    mask_truncated: bool = False  # DAPO overlong filtering: completions cut at the limit add no loss
    overlong_buffer: int = 0  # DAPO soft overlong punishment over the last N tokens before the limit (0 = off)
    overlong_penalty: float = 1.0  # its largest penalty, reached at the limit
    # the optimiser and the model
    learning_rate: float = 1e-4
    lr_schedule: str = "constant"  # constant | linear | cosine (decay to 0 at the last step, after warm-up)
    warmup_steps: int = 0  # linear warm-up from 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    dtype: str = "float32"
    gradient_checkpointing: bool = False
    micro_batch: int = 4  # sequences per forward/backward
    logprob_chunk: int = 512  # completion tokens whose full-vocabulary logits exist at once
    # rollouts
    rollout: str = "vllm"  # vllm | hf (plain transformers generate, for machines without vLLM)
    vllm_memory_fraction: float = 0.35  # GPU only: the share vLLM may take for weights and KV cache
    vllm_sleep: bool = True  # GPU only: free vLLM's KV cache while the policy trains
    # how vLLM gets the policy: "lora" (the adapter via LoRARequest), "merge" (the adapter merged into the
    # weights, written into vLLM's layers) or "auto" (merge on the CPU in float32, where vLLM's LoRA ops are
    # slow and merged weights are exact; lora otherwise: a bf16 merge would round small updates away)
    vllm_weight_sync: str = "auto"
    # bookkeeping
    seed: int = 0
    output_dir: str = "out/grpo"
    save_every: int = 10
    eval_data: str = ""  # held-out questions (same fields as data), scored greedily every eval_every steps
    eval_every: int = 0  # 0 = no held-out evaluation
    judge: str | None = None  # a judge spec (see judgecraft.judge.make_judge) when judge components are weighted
    sft: SFTConfig = field(default_factory=SFTConfig)

    @property
    def effective_scale(self) -> str:
        return self.scale_rewards or ("none" if self.loss == "dr_grpo" else "group")

    @property
    def effective_clip_high(self) -> float:
        if self.clip_high is not None:
            return self.clip_high
        return 0.28 if self.loss == "dapo" else self.clip_low

    def scoring_settings(self) -> Any:
        """This run's scoring fields as the one settings object TRL, verl and the CLI use too."""
        # Imported here: the 14B GPU check loads this module without the scorer stack (no lxml there).
        from judgecraft.settings import ScoringSettings

        return ScoringSettings(self.construct, self.stage, self.weights or None, self.params or None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self, source: str = "<config>") -> TrainConfig:
        def need(ok: bool, key: str, problem: str) -> None:
            if not ok:
                raise TrainConfigError(source, key, problem)

        need(self.loss in LOSSES, "loss", f"{self.loss!r} is not one of {LOSSES}")
        need(self.scale_rewards in (None, *SCALES), "scale_rewards", f"{self.scale_rewards!r} is not one of {SCALES}")
        need(self.rollout in ROLLOUTS, "rollout", f"{self.rollout!r} is not one of {ROLLOUTS}")
        need(self.dtype in DTYPES, "dtype", f"{self.dtype!r} is not one of {DTYPES}")
        for key in ("steps", "prompts_per_step", "max_prompt_tokens", "max_completion_tokens", "micro_batch"):
            need(getattr(self, key) >= 1, key, "must be at least 1")
        need(self.group_size >= 2, "group_size", "must be at least 2 (advantages compare completions in a group)")
        need(self.updates_per_batch >= 1, "updates_per_batch", "must be at least 1")
        need(self.logprob_chunk >= 1, "logprob_chunk", "must be at least 1")
        need(self.lora_rank >= 1, "lora_rank", "must be at least 1")
        need(self.learning_rate > 0, "learning_rate", "must be positive")
        need(self.kl_coef >= 0, "kl_coef", "must be 0 or more")
        need(0 <= self.clip_low < 1, "clip_low", "must be in [0, 1)")
        need(self.clip_high is None or self.clip_high >= 0, "clip_high", "must be 0 or more")
        need(self.temperature > 0, "temperature", "must be positive")
        need(self.top_p == 1.0, "top_p", TRUNCATED_SAMPLING)
        need(self.top_k == -1, "top_k", TRUNCATED_SAMPLING)
        need(self.is_cap == 0 or self.is_cap >= 1, "is_cap", "must be 0 (off) or at least 1")
        need(self.overlong_buffer >= 0, "overlong_buffer", "must be 0 or more")
        need(
            self.overlong_buffer < self.max_completion_tokens, "overlong_buffer", "must be below max_completion_tokens"
        )
        need(self.overlong_penalty >= 0, "overlong_penalty", "must be 0 or more")
        need(self.lr_schedule in SCHEDULES, "lr_schedule", f"{self.lr_schedule!r} is not one of {SCHEDULES}")
        need(0 <= self.warmup_steps < self.steps, "warmup_steps", "must be in [0, steps)")
        need(self.eval_every >= 0, "eval_every", "must be 0 or more")
        need(self.eval_every == 0 or bool(self.eval_data), "eval_data", "is required when eval_every > 0")
        need(bool(self.lora_targets), "lora_targets", "must name at least one module")
        need(
            self.rollout != "vllm" or self.lora_rank <= VLLM_LORA_RANKS[-1],
            "lora_rank",
            f"vLLM serves LoRA ranks up to {VLLM_LORA_RANKS[-1]}",
        )
        need(0 < self.vllm_memory_fraction < 1, "vllm_memory_fraction", "must be in (0, 1)")
        need(
            self.vllm_weight_sync in WEIGHT_SYNCS,
            "vllm_weight_sync",
            f"{self.vllm_weight_sync!r} is not one of {WEIGHT_SYNCS}",
        )
        need(self.save_every >= 1, "save_every", "must be at least 1")
        need(self.sft.steps >= 0, "sft.steps", "must be 0 or more")
        need(self.sft.steps == 0 or bool(self.sft.data), "sft.data", "is required when sft.steps > 0")
        return self

    def check_inputs(self, source: str = "<config>") -> TrainConfig:
        """The files a training run reads exist: found now, not after minutes of loading (`--plan` skips this)."""

        def need(ok: bool, key: str, problem: str) -> None:
            if not ok:
                raise TrainConfigError(source, key, problem)

        need(Path(self.data).is_file(), "data", f"{self.data}: no such file")
        need(not self.eval_data or Path(self.eval_data).is_file(), "eval_data", f"{self.eval_data}: no such file")
        need(not self.sft.data or Path(self.sft.data).is_file(), "sft.data", f"{self.sft.data}: no such file")
        need(self.model == "smollm2" or Path(self.model).is_dir(), "model", f"{self.model}: no such model folder")
        return self

    @property
    def vllm_max_lora_rank(self) -> int:
        """The smallest max_lora_rank vLLM accepts that holds this run's rank."""
        return next(r for r in VLLM_LORA_RANKS if r >= self.lora_rank)

    def weight_sync(self, on_gpu: bool) -> str:
        """How vLLM gets the policy on this machine ("auto" resolved)."""
        if self.vllm_weight_sync != "auto":
            return self.vllm_weight_sync
        return "merge" if not on_gpu and self.dtype == "float32" else "lora"

    def lr_at(self, step: int) -> float:
        """The learning rate of `step`: linear warm-up, then constant, linear or cosine decay towards 0."""
        if step < self.warmup_steps:
            return self.learning_rate * (step + 1) / (self.warmup_steps + 1)
        if self.lr_schedule == "constant":
            return self.learning_rate
        progress = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        if self.lr_schedule == "linear":
            return self.learning_rate * (1 - progress)
        return self.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def _build(cls: type, data: dict[str, Any], source: str, prefix: str = "") -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        where = prefix + key
        if key not in known:
            raise TrainConfigError(source, where, f"unknown key (known: {', '.join(sorted(known))})")
        if key == "sft":
            if not isinstance(value, dict):
                raise TrainConfigError(source, where, "must be a table")
            kwargs[key] = _build(SFTConfig, value, source, "sft.")
            continue
        default = getattr(cls(), key)
        if key == "prefill" and isinstance(value, str):
            kwargs[key] = value
            continue
        if default is not None and not isinstance(default, dict | list):
            expected = float if isinstance(default, float) else type(default)
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise TrainConfigError(source, where, f"expected {expected.__name__}, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


def load_train_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Read a run's TOML (or only defaults when `path` is None); `overrides` win over the file."""
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TrainConfigError(source, "-", "file not found") from None
        except tomllib.TOMLDecodeError as err:
            raise TrainConfigError(source, "-", f"not valid TOML: {err}") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    return _build(TrainConfig, data, source).validate(source)


def read_training_rows(path: str | Path, valid: Any, needs: str, what: str) -> list[dict[str, Any]]:
    """The JSON objects of a training-data JSONL file (questions, SFT examples), blank lines skipped.

    Training data is the user's own, so unlike a dump to score, a bad line stops the run: the error names
    the file and line, and `needs` says what `valid(row)` wanted.
    """
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not JSON ({err})") from None
        if not isinstance(row, dict) or not valid(row):
            raise ValueError(f"{path}:{number}: {needs}")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no {what}")
    return rows
