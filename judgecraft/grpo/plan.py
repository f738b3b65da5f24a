"""`judgecraft train --plan`: the GPU memory a GRPO run needs, worked out before anything loads.

Only the model's config.json is read (no weights), so a 14B plan takes milliseconds on a laptop. Every
line of the plan is a formula over facts of the config (vocabulary V, hidden size H, layers N, attention
heads, key/value heads, head size, MLP width I) and of the run (dtype bytes b, LoRA rank r and targets,
group size G, prompts per step P, sequence length L = max_prompt_tokens + max_completion_tokens, micro
batch B, log-prob chunk C, vLLM's memory fraction and sleep mode); `MemoryPlan.render()` prints each
line next to its formula.

How far to trust it:
- The parameter and LoRA counts are exact (tests compare them with transformers and peft).
- The per-layer activations saved for backward were derived from the tensors that transformers 5 +
  peft actually save (measured on CPU with `torch.autograd.graph.saved_tensors_hooks`; a test keeps
  the formula equal to that measurement).
- Everything else is an estimate: gradient buffers during backward, vLLM's workspace and what vLLM
  keeps while asleep, the CUDA context, allocator fragmentation. The constants below say what was
  assumed. The issue's target (peak predicted within 15% on a GPU) has NOT been checked: no GPU was
  available when this was written.
- The trainer is assumed to give its cached activation memory back (`torch.cuda.empty_cache()`) before
  vLLM wakes up; otherwise PyTorch's allocator keeps the training peak reserved through the rollout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from judgecraft.grpo.config import TrainConfig
from judgecraft.grpo.shape import (  # noqa: F401 (re-exported: the plan's public names)
    ATTENTION_LINEARS,
    FP32,
    MLP_LINEARS,
    MODEL_CONFIGS_DIR,
    SUPPORTED_TYPES,
    ModelShape,
    bundled_model_configs,
    load_model_config,
)

GiB = 1024**3
DEFAULT_GPU_BYTES = 80 * GiB  # an "80 GB" H100 reports about 79.2 GiB to PyTorch
CUDA_OVERHEAD_BYTES = 1 * GiB  # the trainer's CUDA context (~0.5 GiB) + allocator fragmentation: assumed
VLLM_FIXED_BYTES = 1 * GiB  # vLLM's engine process: its CUDA context, CUDA graphs, non-torch memory: assumed
VLLM_MAX_NUM_SEQS = 256  # vLLM's default max_num_seqs: the sampler's profiling run holds this many logit rows
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass
class Line:
    """One row of the plan: a phase ("rollout" / "train" / "vllm"), what, how many bytes and the formula."""

    phase: str
    name: str
    bytes: int
    formula: str


@dataclass
class MemoryPlan:
    model: str
    shape: ModelShape
    parameters: int
    lora_parameters: int
    dtype: str
    gpu_bytes: int
    gpu_assumed: bool  # True when no GPU size was given and DEFAULT_GPU_BYTES was used
    sequence_length: int
    sequences_per_step: int
    lines: list[Line]
    rollout_bytes: int
    train_bytes: int
    overhead_bytes: int
    peak_bytes: int
    vllm_reserved_bytes: int  # 0 without vLLM
    vllm_needed_bytes: int  # weights + LoRA slot + workspace + KV cache for every sequence of a step
    vllm_concurrent_sequences: int  # sequences whose KV cache fits vLLM's reservation at once
    suggested_memory_fraction: float | None  # the smallest fraction that decodes every sequence at once
    notes: list[str] = field(default_factory=list)

    @property
    def vllm_starts(self) -> bool:
        """vLLM refuses to start when its reservation cannot hold the weights plus one full-length sequence."""
        return self.vllm_reserved_bytes == 0 or self.vllm_concurrent_sequences >= 1

    @property
    def fits(self) -> bool:
        return self.peak_bytes <= self.gpu_bytes and self.vllm_starts

    @property
    def headroom_bytes(self) -> int:
        return self.gpu_bytes - self.peak_bytes

    def phase_lines(self, phase: str) -> list[Line]:
        return [line for line in self.lines if line.phase == phase]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "parameters": self.parameters,
            "lora_parameters": self.lora_parameters,
            "gpu_bytes": self.gpu_bytes,
            "rollout_bytes": self.rollout_bytes,
            "train_bytes": self.train_bytes,
            "overhead_bytes": self.overhead_bytes,
            "peak_bytes": self.peak_bytes,
            "fits": self.fits,
            "headroom_bytes": self.headroom_bytes,
            "vllm_reserved_bytes": self.vllm_reserved_bytes,
            "vllm_needed_bytes": self.vllm_needed_bytes,
            "vllm_concurrent_sequences": self.vllm_concurrent_sequences,
            "suggested_memory_fraction": self.suggested_memory_fraction,
            "lines": [vars(line) for line in self.lines],
            "notes": self.notes,
        }

    def render(self) -> str:
        """A plain-text table: one row per line of the plan, phase totals, the peak and the verdict."""
        s = self.shape
        head = [
            f"memory plan for {self.model} ({s.model_type}, {self.parameters / 1e9:.3f}B parameters, "
            f"{s.layers} layers, hidden {s.hidden}, {s.heads}/{s.kv_heads} q/kv heads, vocab {s.vocab})",
            f"LoRA: {self.lora_parameters / 1e6:.2f}M trainable parameters; dtype {self.dtype}; "
            f"{self.sequences_per_step} sequences per step of up to {self.sequence_length} tokens",
            f"GPU: {fmt(self.gpu_bytes)}" + (" (assumed; pass the real size)" if self.gpu_assumed else ""),
            "",
        ]
        width = max(len(line.name) for line in self.lines) + 2
        rows: list[str] = []
        titles = {
            "rollout": "rollout phase (what is on the GPU while vLLM generates)",
            "vllm": "  inside vLLM's reservation",
            "train": "train phase (what is on the GPU during forward/backward)",
        }
        totals = {"rollout": self.rollout_bytes, "train": self.train_bytes}
        for phase in ("rollout", "vllm", "train"):
            lines = self.phase_lines(phase)
            if not lines:
                continue
            rows.append(titles[phase])
            indent = "    " if phase == "vllm" else "  "
            for line in lines:
                rows.append(f"{indent}{line.name:<{width}}{fmt(line.bytes):>11}   {line.formula}")
            if phase in totals:
                rows.append(f"  {'total':<{width}}{fmt(totals[phase]):>11}")
            rows.append("")
        verdict = "fits" if self.fits else "does NOT fit"
        tail = [
            f"CUDA context + allocator overhead (assumed): {fmt(self.overhead_bytes)}",
            f"peak = max(rollout, train) + overhead = {fmt(self.peak_bytes)} -> {verdict} in {fmt(self.gpu_bytes)} "
            f"(headroom {fmt(self.headroom_bytes)})",
        ]
        if self.suggested_memory_fraction is not None:
            tail.append(
                f"vllm_memory_fraction needed to decode all {self.sequences_per_step} sequences at once: "
                f"{self.suggested_memory_fraction:.2f} (vLLM decodes {self.vllm_concurrent_sequences} at once now)"
            )
        tail += [f"note: {note}" for note in self.notes]
        return "\n".join(head + rows + tail)


def fmt(n: int | float) -> str:
    """Bytes as GiB (or MiB below 1 GiB), signed when negative."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    return f"{sign}{n / GiB:.2f} GiB" if n >= GiB else f"{sign}{n / 2**20:.1f} MiB"


@dataclass
class _Common:
    """What both phases count with."""

    cfg: TrainConfig
    shape: ModelShape
    gpu: int
    b: int  # bytes per weight
    L: int  # sequence length
    sequences: int
    weights: int
    lora_state: int
    notes: list[str]

    @property
    def weights_line(self) -> tuple[str, int, str]:
        return ("base weights", self.weights, f"params x {self.b} B ({self.cfg.dtype})")

    @property
    def lora_line(self) -> tuple[str, int, str]:
        return ("LoRA weights + grads + AdamW m, v", self.lora_state, "LoRA params x 4 x 4 B (fp32)")


@dataclass
class _Rollout:
    lines: list[Line]
    bytes: int
    vllm_reserved: int = 0
    vllm_needed: int = 0
    concurrent: int = 0
    suggested: float | None = None


def plan_memory(
    config: TrainConfig, model_config: dict[str, Any] | None = None, gpu_bytes: int | None = None
) -> MemoryPlan:
    """The memory plan of a run; `model_config` defaults to `load_model_config(config.model)`."""
    cfg = config
    shape = ModelShape.from_config(model_config if model_config is not None else load_model_config(cfg.model))
    gpu = DEFAULT_GPU_BYTES if gpu_bytes is None else int(gpu_bytes)
    b = DTYPE_BYTES[cfg.dtype]
    params = shape.parameters()
    lora = shape.lora_parameters(cfg.lora_rank, list(cfg.lora_targets))
    common = _Common(
        cfg,
        shape,
        gpu,
        b,
        cfg.max_prompt_tokens + cfg.max_completion_tokens,
        cfg.prompts_per_step * cfg.group_size,
        params * b,
        lora * 4 * FP32,
        [],
    )
    rollout = _vllm_phase(common) if cfg.rollout == "vllm" else _hf_phase(common)
    train_lines, train_bytes = _train_phase(common, rollout.vllm_reserved)
    peak = max(rollout.bytes, train_bytes) + CUDA_OVERHEAD_BYTES
    return MemoryPlan(
        model=cfg.model,
        shape=shape,
        parameters=params,
        lora_parameters=lora,
        dtype=cfg.dtype,
        gpu_bytes=gpu,
        gpu_assumed=gpu_bytes is None,
        sequence_length=common.L,
        sequences_per_step=common.sequences,
        lines=rollout.lines + train_lines,
        rollout_bytes=rollout.bytes,
        train_bytes=train_bytes,
        overhead_bytes=CUDA_OVERHEAD_BYTES,
        peak_bytes=peak,
        vllm_reserved_bytes=rollout.vllm_reserved,
        vllm_needed_bytes=rollout.vllm_needed,
        vllm_concurrent_sequences=rollout.concurrent,
        suggested_memory_fraction=rollout.suggested,
        notes=common.notes,
    )


def _vllm_phase(c: _Common) -> _Rollout:
    """The rollout phase with vLLM: the trainer's weights and LoRA state beside vLLM's reservation."""
    cfg, shape, b, L, gpu = c.cfg, c.shape, c.b, c.L, c.gpu
    targets = list(cfg.lora_targets)
    kv_per_seq = shape.kv_bytes_per_token(b) * L
    vllm_rank = cfg.vllm_max_lora_rank  # vLLM sizes its LoRA slot for max_lora_rank
    lora_slot = shape.lora_parameters(vllm_rank, targets) * b
    workspace = max(L, 2048) * b * (3 * shape.hidden + shape.q_dim + 2 * shape.kv_dim + 3 * shape.intermediate)
    workspace += VLLM_MAX_NUM_SEQS * shape.vocab * FP32 * 2
    fixed = c.weights + lora_slot + workspace + VLLM_FIXED_BYTES
    reserved = int(cfg.vllm_memory_fraction * gpu)
    needed = fixed + c.sequences * kv_per_seq
    concurrent = max(0, min(c.sequences, (reserved - fixed) // kv_per_seq))
    suggested = math.ceil(needed / gpu * 100) / 100
    lines = [
        Line("rollout", *c.weights_line),
        Line("rollout", *c.lora_line),
        Line("rollout", "vLLM reservation", reserved, f"vllm_memory_fraction {cfg.vllm_memory_fraction} x GPU"),
        Line("vllm", "weights (vLLM's own copy)", c.weights, f"params x {b} B"),
        Line("vllm", "LoRA slot", lora_slot, f"max_loras 1 x rank {vllm_rank} x sum(in+out) x N x {b} B"),
        Line(
            "vllm",
            "profiling workspace + sampler",
            workspace,
            f"max(L, 2048) x (3H + q + 2kv + 3I) x {b} B + {VLLM_MAX_NUM_SEQS} x V x 8 B",
        ),
        Line("vllm", "context, CUDA graphs (assumed)", VLLM_FIXED_BYTES, "fixed"),
        Line(
            "vllm",
            f"KV cache wanted: {c.sequences} seq x {L} tok",
            c.sequences * kv_per_seq,
            f"P x G x L x 2 x N x kv_heads x head_dim x {b} B",
        ),
        Line("vllm", "KV cache available in the reservation", reserved - fixed, "reservation - everything above"),
    ]
    if concurrent < 1:
        c.notes.append(
            f"vLLM will not start: its reservation ({fmt(reserved)}) cannot hold the weights, workspace "
            f"and one {L}-token sequence ({fmt(fixed + kv_per_seq)}); raise vllm_memory_fraction to at least "
            f"{math.ceil((fixed + kv_per_seq) / gpu * 100) / 100:.2f}"
        )
    elif concurrent < c.sequences:
        c.notes.append(
            f"vLLM holds the KV cache of {concurrent} of {c.sequences} sequences at once and queues the rest "
            f"(slower rollouts, same results); vllm_memory_fraction {suggested:.2f} decodes all at once"
        )
    return _Rollout(lines, c.weights + c.lora_state + reserved, reserved, needed, concurrent, suggested)


def _hf_phase(c: _Common) -> _Rollout:
    """The rollout phase with transformers' generate on the policy: one prompt's G completions at a time."""
    G, b, L = c.cfg.group_size, c.b, c.L
    kv = G * c.shape.kv_bytes_per_token(b) * L
    logits = G * c.shape.vocab * FP32 * 2
    lines = [
        Line("rollout", *c.weights_line),
        Line("rollout", *c.lora_line),
        Line("rollout", f"KV cache: {G} seq x {L} tok", kv, f"G x L x 2 x N x kv_dim x {b} B"),
        Line("rollout", "sampling logits", logits, "G x V x 8 B"),
    ]
    return _Rollout(lines, c.weights + c.lora_state + kv + logits)


def _activations(c: _Common) -> tuple[int, str, int]:
    """Saved activations of one micro-batch (and their formula), and the per-layer bytes per token."""
    cfg, shape, b, L = c.cfg, c.shape, c.b, c.L
    B, N, H = cfg.micro_batch, shape.layers, shape.hidden
    tokens = B * L
    repeat_kv = B > 1  # right-padded micro batches carry a padding mask, so transformers repeats K/V heads
    per_layer = shape.layer_activation_bytes_per_token(b, cfg.lora_rank, list(cfg.lora_targets), repeat_kv)
    mask_bias = B * L * L * b if repeat_kv else 0  # SDPA turns the bool mask into an additive bias per layer
    if cfg.gradient_checkpointing:
        activations = N * tokens * H * b + tokens * per_layer + mask_bias
        formula = f"N x B x L x H x {b} B (layer inputs) + B x L x {per_layer} B (one layer recomputed)"
    else:
        activations = N * (tokens * per_layer + mask_bias)
        formula = f"N x B x L x {per_layer} B (every layer's saved tensors)"
    if mask_bias:
        formula += " + (B x L^2 x b mask bias per live layer)"
    return activations, formula, per_layer


def _train_phase(c: _Common, vllm_reserved: int) -> tuple[list[Line], int]:
    """The train phase: weights, LoRA state, what vLLM keeps, activations, gradients and one log-prob chunk."""
    cfg, shape, b, L = c.cfg, c.shape, c.b, c.L
    B, T, H, V = cfg.micro_batch, cfg.max_completion_tokens, shape.hidden, shape.vocab
    tokens = B * L
    activations, act_formula, per_layer = _activations(c)
    backward = tokens * FP32 * (2 * H + 2 * shape.intermediate)
    outputs = tokens * (2 * H * b + FP32 * H) + B * T * H * b
    chunk = min(cfg.logprob_chunk, T)
    logits = B * chunk * V * (b + 2 * FP32)
    if cfg.rollout != "vllm":
        resident = ("no vLLM", 0, "rollouts run on the policy itself")
    elif cfg.vllm_sleep:
        resident = ("vLLM asleep (level 1, assumed residual)", VLLM_FIXED_BYTES, "weights on CPU, KV cache freed")
        c.notes.append(f"vLLM's sleep keeps its weights in pinned host memory: {fmt(c.weights)} of CPU RAM")
    else:
        resident = ("vLLM reservation (no sleep)", vllm_reserved, "vLLM keeps weights + KV cache on the GPU")
        c.notes.append("vllm_sleep is off: vLLM's whole reservation stays on the GPU while the policy trains")
    checkpointed = " (checkpointed)" if cfg.gradient_checkpointing else ""
    lines = [
        Line("train", *c.weights_line),
        Line("train", *c.lora_line),
        Line("train", *resident),
        Line("train", "activations" + checkpointed, activations, act_formula),
        Line("train", "backward gradient buffers (assumed)", backward, "B x L x 4 B x (2H + 2I)"),
        Line(
            "train", "decoder output, completion copy, final norm", outputs, "B x L x (2 x H x b + 4H) + B x T x H x b"
        ),
        Line("train", f"log-prob chunk ({B} x {chunk} x V)", logits, f"B x min(C, T) x V x ({b} + 4 + 4) B"),
    ]
    total = c.weights + c.lora_state + resident[1] + activations + backward + outputs + logits
    if not cfg.gradient_checkpointing and shape.layers * tokens * per_layer > 4 * shape.layers * tokens * H * b:
        c.notes.append("gradient_checkpointing = true would cut the activations to about a layer's worth")
    return lines, total
