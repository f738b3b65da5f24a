"""The trained policy: a frozen base model with a LoRA adapter, whose reference is the same model with the adapter off.

Switching the adapter off gives the reference policy's log-probabilities exactly (LoRA's B matrices start
at zero, so at step 0 policy == reference) without a second copy of the weights: for 14B that is the
difference between 28 GB and 56 GB of bf16 weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_model(model: str) -> str:
    """ "smollm2" means the bundled small model (converted once and cached); anything else is a folder or hub id."""
    if model == "smollm2":
        from judgecraft.models import small_model_dir

        return str(small_model_dir())
    return model


@dataclass
class Policy:
    model: Any  # a peft PeftModel
    tokenizer: Any
    base_path: str

    @contextlib.contextmanager
    def reference(self) -> Iterator[None]:
        """The reference policy: the same weights with the adapter disabled."""
        with self.model.disable_adapter():
            yield

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def save_adapter(self, directory: str | Path) -> Path:
        directory = Path(directory)
        self.model.save_pretrained(str(directory))
        return directory


def load_policy(
    model: str,
    *,
    lora_rank: int = 16,
    lora_alpha: int = 32,
    lora_dropout: float = 0.0,
    lora_targets: list[str] | tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj"),
    dtype: str = "float32",
    gradient_checkpointing: bool = False,
    adapter: str | Path | None = None,
    device: str | None = None,
) -> Policy:
    """Load the base model frozen, add (or reload) the LoRA adapter, and its tokenizer."""
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(model)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    base = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype]).to(device)
    base.config.use_cache = False
    if gradient_checkpointing:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if adapter is not None:
        peft_model = PeftModel.from_pretrained(base, str(adapter), is_trainable=True)
    else:
        config = LoraConfig(
            r=lora_rank,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            target_modules=list(lora_targets),
            task_type="CAUSAL_LM",
        )
        peft_model = get_peft_model(base, config)
    for p in peft_model.parameters():  # LoRA weights train in fp32 even on a bf16 base
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return Policy(peft_model, tokenizer, path)
