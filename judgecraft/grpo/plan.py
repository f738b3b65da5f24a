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

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judgecraft.grpo.config import TrainConfig

GiB = 1024**3
DEFAULT_GPU_BYTES = 80 * GiB  # an "80 GB" H100 reports about 79.2 GiB to PyTorch
CUDA_OVERHEAD_BYTES = 1 * GiB  # the trainer's CUDA context (~0.5 GiB) + allocator fragmentation: assumed
VLLM_FIXED_BYTES = 1 * GiB  # vLLM's engine process: its CUDA context, CUDA graphs, non-torch memory: assumed
VLLM_MAX_NUM_SEQS = 256  # vLLM's default max_num_seqs: the sampler's profiling run holds this many logit rows
FP32 = 4
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
SUPPORTED_TYPES = ("llama", "mistral", "qwen2", "qwen3")
MODEL_CONFIGS_DIR = Path(__file__).with_name("model_configs")

ATTENTION_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_LINEARS = ("gate_proj", "up_proj", "down_proj")


def bundled_model_configs() -> list[str]:
    """Names accepted by `load_model_config` without a folder (the JSON files shipped in model_configs/)."""
    return sorted(p.stem for p in MODEL_CONFIGS_DIR.glob("*.json"))


def load_model_config(model: str) -> dict[str, Any]:
    """The config.json of `model`: "smollm2", a model folder, a bundled name ("qwen2.5-14b") or a .json path."""
    if model == "smollm2":
        from judgecraft.models import small_model_dir

        path = small_model_dir() / "config.json"
    elif Path(model).is_dir():
        path = Path(model) / "config.json"
        if not path.exists():
            raise ValueError(f"{model}: the folder has no config.json")
    elif model.endswith(".json") and Path(model).is_file():
        path = Path(model)
    elif (MODEL_CONFIGS_DIR / f"{model}.json").exists():
        path = MODEL_CONFIGS_DIR / f"{model}.json"
    else:
        raise ValueError(
            f"unknown model {model!r}: give 'smollm2', a model folder, a config .json file, "
            f"or one of the bundled configs: {', '.join(bundled_model_configs())}"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return config


@dataclass(frozen=True)
class ModelShape:
    """The facts of a decoder-only transformer (llama / mistral / qwen2 / qwen3 family) that memory depends on."""

    model_type: str
    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    tied_embeddings: bool
    qkv_bias: bool
    o_bias: bool
    mlp_bias: bool
    qk_norm: bool  # qwen3 normalises queries and keys per head

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ModelShape:
        model_type = config.get("model_type", "")
        if model_type not in SUPPORTED_TYPES:
            raise ValueError(f"model_type {model_type!r} is not supported by the plan (supported: {SUPPORTED_TYPES})")
        if config.get("num_experts") or config.get("num_local_experts"):
            raise ValueError("mixture-of-experts models are not supported by the plan")
        try:
            hidden = int(config["hidden_size"])
            heads = int(config["num_attention_heads"])
            return cls(
                model_type=model_type,
                vocab=int(config["vocab_size"]),
                hidden=hidden,
                layers=int(config["num_hidden_layers"]),
                heads=heads,
                kv_heads=int(config.get("num_key_value_heads") or heads),
                head_dim=int(config.get("head_dim") or hidden // heads),
                intermediate=int(config["intermediate_size"]),
                tied_embeddings=bool(config.get("tie_word_embeddings", False)),
                # qwen2 always has q/k/v biases (none on o_proj); llama's attention_bias covers all four
                qkv_bias=model_type == "qwen2" or bool(config.get("attention_bias", False)),
                o_bias=model_type != "qwen2" and bool(config.get("attention_bias", False)),
                mlp_bias=bool(config.get("mlp_bias", False)),
                qk_norm=model_type == "qwen3",
            )
        except KeyError as err:
            raise ValueError(f"the model config lacks {err.args[0]!r}") from None

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linears(self) -> dict[str, tuple[int, int, bool]]:
        """Each decoder layer's linear layers: name -> (in_features, out_features, has bias)."""
        H, I = self.hidden, self.intermediate  # noqa: E741 (the usual name of the MLP width)
        return {
            "q_proj": (H, self.q_dim, self.qkv_bias),
            "k_proj": (H, self.kv_dim, self.qkv_bias),
            "v_proj": (H, self.kv_dim, self.qkv_bias),
            "o_proj": (self.q_dim, H, self.o_bias),
            "gate_proj": (H, I, self.mlp_bias),
            "up_proj": (H, I, self.mlp_bias),
            "down_proj": (I, H, self.mlp_bias),
        }

    def parameters(self) -> int:
        """V*H embeddings (+ V*H lm_head unless tied) + N * (linears + biases + 2 norms [+ q/k norms]) + final norm."""
        per_layer = sum(i * o + (o if bias else 0) for i, o, bias in self.linears().values())
        per_layer += 2 * self.hidden + (2 * self.head_dim if self.qk_norm else 0)
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return embeddings + self.layers * per_layer + self.hidden

    def lora_parameters(self, rank: int, targets: list[str] | tuple[str, ...]) -> int:
        """N * sum over targeted linears of r * (in + out): LoRA's A is r x in, B is out x r."""
        return self.layers * sum(rank * (i + o) for name, (i, o, _) in self.linears().items() if name in targets)

    def kv_bytes_per_token(self, dtype_bytes: int) -> int:
        """2 (K and V) * N * kv_heads * head_dim * b."""
        return 2 * self.layers * self.kv_dim * dtype_bytes

    def layer_activation_bytes_per_token(
        self, dtype_bytes: int, rank: int, targets: list[str] | tuple[str, ...], repeat_kv: bool
    ) -> int:
        """Bytes one decoder layer saves for backward per token (frozen base + LoRA, transformers 5 + peft).

        - 2 RMSNorms: each keeps its input upcast to fp32 (4H) and the fp32 rsqrt (4).
        - SDPA keeps q, k, v and its output in dtype plus an fp32 logsumexp per head; with a padding
          mask transformers repeats the K/V heads first, so k and v are q-sized.
        - The MLP keeps SiLU's input, SiLU's output and up_proj's output: 3I in dtype.
        - A frozen linear keeps nothing, but a LoRA-wrapped one keeps its input for LoRA A's gradient: peft
          casts it to fp32 (the adapter's dtype), one copy per targeted linear on a bf16/fp16 base; on an
          fp32 base the cast is free and q/k/v (and gate/up) share one input, o_proj's is SDPA's output.
        - Each LoRA A output (r values, fp32) is kept for LoRA B's gradient.
        """
        b, H, I = dtype_bytes, self.hidden, self.intermediate  # noqa: E741
        kv = self.q_dim if repeat_kv and self.kv_heads != self.heads else self.kv_dim
        total = 2 * (FP32 * H + FP32)
        total += b * (2 * self.q_dim + 2 * kv) + FP32 * self.heads
        total += b * 3 * I
        if self.qk_norm:
            total += FP32 * (self.q_dim + self.kv_dim) + FP32 * (self.heads + self.kv_heads)
        targeted = [t for t in self.linears() if t in targets]
        if dtype_bytes == FP32:  # the inputs themselves, one per distinct tensor (o_proj's is SDPA's output)
            total += FP32 * H * any(t in targeted for t in ("q_proj", "k_proj", "v_proj"))
            total += FP32 * H * any(t in targeted for t in ("gate_proj", "up_proj"))
            total += FP32 * I * ("down_proj" in targeted)
        else:  # one fp32 copy per targeted linear
            total += sum(FP32 * self.linears()[name][0] for name in targeted)
        total += len(targeted) * FP32 * rank
        return total


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


def plan_memory(
    config: TrainConfig, model_config: dict[str, Any] | None = None, gpu_bytes: int | None = None
) -> MemoryPlan:
    """The memory plan of a run; `model_config` defaults to `load_model_config(config.model)`."""
    cfg = config
    shape = ModelShape.from_config(model_config if model_config is not None else load_model_config(cfg.model))
    gpu_assumed = gpu_bytes is None
    gpu = DEFAULT_GPU_BYTES if gpu_bytes is None else int(gpu_bytes)
    b = DTYPE_BYTES[cfg.dtype]
    H, V, N = shape.hidden, shape.vocab, shape.layers
    L = cfg.max_prompt_tokens + cfg.max_completion_tokens
    T = cfg.max_completion_tokens
    B = cfg.micro_batch
    sequences = cfg.prompts_per_step * cfg.group_size
    targets = list(cfg.lora_targets)
    params = shape.parameters()
    lora = shape.lora_parameters(cfg.lora_rank, targets)
    notes: list[str] = []
    lines: list[Line] = []

    weights = params * b
    lora_state = lora * 4 * FP32
    weights_line = ("base weights", weights, f"params x {b} B ({cfg.dtype})")
    lora_line = ("LoRA weights + grads + AdamW m, v", lora_state, "LoRA params x 4 x 4 B (fp32)")

    # ---- rollout phase
    vllm_reserved = vllm_needed = concurrent = 0
    suggested: float | None = None
    kv_per_seq = shape.kv_bytes_per_token(b) * L
    if cfg.rollout == "vllm":
        vllm_rank = max(8, 2 ** math.ceil(math.log2(cfg.lora_rank)))  # vLLM's LoRA slots come in powers of two >= 8
        lora_slot = shape.lora_parameters(vllm_rank, targets) * b
        profile_tokens = max(L, 2048)
        workspace = profile_tokens * b * (3 * H + shape.q_dim + 2 * shape.kv_dim + 3 * shape.intermediate)
        workspace += VLLM_MAX_NUM_SEQS * V * FP32 * 2
        fixed = weights + lora_slot + workspace + VLLM_FIXED_BYTES
        vllm_reserved = int(cfg.vllm_memory_fraction * gpu)
        vllm_needed = fixed + sequences * kv_per_seq
        concurrent = max(0, min(sequences, (vllm_reserved - fixed) // kv_per_seq))
        suggested = math.ceil(vllm_needed / gpu * 100) / 100
        lines += [
            Line("rollout", *weights_line),
            Line("rollout", *lora_line),
            Line(
                "rollout", "vLLM reservation", vllm_reserved, f"vllm_memory_fraction {cfg.vllm_memory_fraction} x GPU"
            ),
            Line("vllm", "weights (vLLM's own copy)", weights, f"params x {b} B"),
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
                f"KV cache wanted: {sequences} seq x {L} tok",
                sequences * kv_per_seq,
                f"P x G x L x 2 x N x kv_heads x head_dim x {b} B",
            ),
            Line(
                "vllm",
                "KV cache available in the reservation",
                vllm_reserved - fixed,
                "reservation - everything above",
            ),
        ]
        rollout_bytes = weights + lora_state + vllm_reserved
        if concurrent < 1:
            notes.append(
                f"vLLM will not start: its reservation ({fmt(vllm_reserved)}) cannot hold the weights, workspace "
                f"and one {L}-token sequence ({fmt(fixed + kv_per_seq)}); raise vllm_memory_fraction to at least "
                f"{math.ceil((fixed + kv_per_seq) / gpu * 100) / 100:.2f}"
            )
        elif concurrent < sequences:
            notes.append(
                f"vLLM holds the KV cache of {concurrent} of {sequences} sequences at once and queues the rest "
                f"(slower rollouts, same results); vllm_memory_fraction {suggested:.2f} decodes all at once"
            )
    else:
        kv = cfg.group_size * kv_per_seq  # HFRollout generates one prompt's G completions at a time
        logits = cfg.group_size * V * FP32 * 2
        lines += [
            Line("rollout", *weights_line),
            Line("rollout", *lora_line),
            Line("rollout", f"KV cache: {cfg.group_size} seq x {L} tok", kv, f"G x L x 2 x N x kv_dim x {b} B"),
            Line("rollout", "sampling logits", logits, "G x V x 8 B"),
        ]
        rollout_bytes = weights + lora_state + kv + logits

    # ---- train phase
    tokens = B * L
    repeat_kv = B > 1  # right-padded micro batches carry a padding mask, so transformers repeats K/V heads
    per_layer = shape.layer_activation_bytes_per_token(b, cfg.lora_rank, targets, repeat_kv)
    mask_bias = B * L * L * b if repeat_kv else 0  # SDPA turns the bool mask into an additive bias per layer
    if cfg.gradient_checkpointing:
        activations = N * tokens * H * b + tokens * per_layer + mask_bias
        act_formula = f"N x B x L x H x {b} B (layer inputs) + B x L x {per_layer} B (one layer recomputed)"
    else:
        activations = N * (tokens * per_layer + mask_bias)
        act_formula = f"N x B x L x {per_layer} B (every layer's saved tensors)"
    if mask_bias:
        act_formula += " + (B x L^2 x b mask bias per live layer)"
    backward = tokens * FP32 * (2 * H + 2 * shape.intermediate)
    outputs = tokens * (2 * H * b + FP32 * H) + B * T * H * b
    chunk = min(cfg.logprob_chunk, T)
    logits = B * chunk * V * (b + 2 * FP32)
    if cfg.rollout == "vllm":
        if cfg.vllm_sleep:
            resident = ("vLLM asleep (level 1, assumed residual)", VLLM_FIXED_BYTES, "weights on CPU, KV cache freed")
            notes.append(f"vLLM's sleep keeps its weights in pinned host memory: {fmt(weights)} of CPU RAM")
        else:
            resident = ("vLLM reservation (no sleep)", vllm_reserved, "vLLM keeps weights + KV cache on the GPU")
            notes.append("vllm_sleep is off: vLLM's whole reservation stays on the GPU while the policy trains")
    else:
        resident = ("no vLLM", 0, "rollouts run on the policy itself")
    lines += [
        Line("train", *weights_line),
        Line("train", *lora_line),
        Line("train", *resident),
        Line(
            "train", "activations" + (" (checkpointed)" if cfg.gradient_checkpointing else ""), activations, act_formula
        ),
        Line("train", "backward gradient buffers (assumed)", backward, "B x L x 4 B x (2H + 2I)"),
        Line(
            "train", "decoder output, completion copy, final norm", outputs, "B x L x (2 x H x b + 4H) + B x T x H x b"
        ),
        Line("train", f"log-prob chunk ({B} x {chunk} x V)", logits, f"B x min(C, T) x V x ({b} + 4 + 4) B"),
    ]
    train_bytes = weights + lora_state + resident[1] + activations + backward + outputs + logits
    if not cfg.gradient_checkpointing and N * tokens * per_layer > 4 * N * tokens * H * b:
        notes.append("gradient_checkpointing = true would cut the activations to about a layer's worth")

    peak = max(rollout_bytes, train_bytes) + CUDA_OVERHEAD_BYTES
    return MemoryPlan(
        model=cfg.model,
        shape=shape,
        parameters=params,
        lora_parameters=lora,
        dtype=cfg.dtype,
        gpu_bytes=gpu,
        gpu_assumed=gpu_assumed,
        sequence_length=L,
        sequences_per_step=sequences,
        lines=lines,
        rollout_bytes=rollout_bytes,
        train_bytes=train_bytes,
        overhead_bytes=CUDA_OVERHEAD_BYTES,
        peak_bytes=peak,
        vllm_reserved_bytes=vllm_reserved,
        vllm_needed_bytes=vllm_needed,
        vllm_concurrent_sequences=concurrent,
        suggested_memory_fraction=suggested,
        notes=notes,
    )
