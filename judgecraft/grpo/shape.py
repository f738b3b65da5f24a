"""The shape of a decoder-only transformer, read from its config.json: what the memory plan counts with.

Only config.json is read (no weights). Parameter and LoRA counts are exact (tests compare them with
transformers and peft); the per-layer activation formula was measured on the tensors transformers 5 +
peft save for backward.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FP32 = 4
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
