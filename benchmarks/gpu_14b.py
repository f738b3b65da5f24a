"""The 14B check: does judgecraft's GRPO update fit one GPU as `judgecraft train --plan` says it does?

Builds Qwen2.5-14B from its config with random weights (no download: the weights do not change memory),
bf16, LoRA r16 on every linear layer (fp32 adapter, as the trainer keeps it), gradient checkpointing, and
runs one full GRPO update with judgecraft's own chunked log-probs and loss: G=8 completions of 4,096
tokens after a 1,024-token prompt, micro-batches of 4, backward, AdamW step. Before it, an optional HF
rollout (transformers generate; the trainer's fallback without vLLM) measures generation memory. Each
phase records peak allocated and reserved memory, and the train phase is compared with the plan for the
same settings. Writes benchmarks/results/gpu_14b.json.

Runs on a bare CUDA machine: python3 with torch, transformers, peft and accelerate; no vLLM, no network.
judgecraft's package root imports the scorer (rapidfuzz, math-verify, lxml), so this script loads only
the torch-only modules it needs (the plan, the config, log-probs and losses) as a namespace package.

    python3 benchmarks/gpu_14b.py            # on the GPU (under 2 minutes on one H200, 69 s of it the HF rollout)
    python3 benchmarks/gpu_14b.py --tiny     # a tiny random model on the CPU, seconds (the test runs this)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "gpu_14b.json"
H100_80GB_BYTES = int(79.2 * 2**30)  # what an "80 GB" H100 reports to PyTorch
TARGET_PLAN_ERROR = 0.15
TINY_CONFIG = {
    "model_type": "qwen2",
    "architectures": ["Qwen2ForCausalLM"],
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
}


def light_judgecraft() -> dict[str, Any]:
    """judgecraft's torch-only GRPO modules, imported without the package root (which needs the scorer's deps)."""
    if "judgecraft" not in sys.modules:
        package = types.ModuleType("judgecraft")
        package.__path__ = [str(ROOT / "judgecraft")]
        sys.modules["judgecraft"] = package
    from judgecraft.grpo.config import TrainConfig
    from judgecraft.grpo.logprobs import completion_logprobs, make_batch
    from judgecraft.grpo.losses import LossNormaliser, policy_loss
    from judgecraft.grpo.plan import load_model_config, plan_memory

    return {
        "TrainConfig": TrainConfig,
        "completion_logprobs": completion_logprobs,
        "make_batch": make_batch,
        "LossNormaliser": LossNormaliser,
        "policy_loss": policy_loss,
        "plan_memory": plan_memory,
        "load_model_config": load_model_config,
    }


def settings(tiny: bool) -> dict[str, Any]:
    """The run's settings: examples/grpo-qwen14b.toml's for one group of 8, or a tiny CPU version."""
    if tiny:
        return dict(group=2, prompt=16, completion=32, micro_batch=2, chunk=16, rollout_tokens=8, rank=16)
    return dict(group=8, prompt=1024, completion=4096, micro_batch=4, chunk=512, rollout_tokens=512, rank=16)


class Meter:
    """Peak allocated / reserved memory of each phase (CUDA), and its wall time."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.phases: dict[str, dict[str, Any]] = {}

    def start(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.t0 = time.perf_counter()

    def stop(self, phase: str, **extra: Any) -> None:
        row: dict[str, Any] = {"seconds": round(time.perf_counter() - self.t0, 2), **extra}
        if self.cuda:
            torch.cuda.synchronize()
            row["peak_allocated_bytes"] = torch.cuda.max_memory_allocated()
            row["peak_reserved_bytes"] = torch.cuda.max_memory_reserved()
            row["allocated_after_bytes"] = torch.cuda.memory_allocated()
        self.phases[phase] = row
        print(f"gpu_14b: {phase}: {json.dumps(row)}", flush=True)


def build_policy(model_config: dict[str, Any], rank: int, device: torch.device) -> Any:
    """Random-weight bf16 model with LoRA on every linear (fp32 adapter) and gradient checkpointing."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(**{k: v for k, v in model_config.items() if k != "architectures"})
    config.use_cache = False
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    lora = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    return model


def rollout(model: Any, s: dict[str, Any], vocab: int, device: torch.device) -> dict[str, Any]:
    """HF generate of G completions for one prompt (the trainer's rollout without vLLM)."""
    prompt = torch.randint(0, vocab, (s["group"], s["prompt"]), device=device)
    model.eval()
    model.config.use_cache = True
    with torch.no_grad():
        out = model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=True,
            use_cache=True,  # the model was built with use_cache=False (training); generation needs its KV cache
            max_new_tokens=s["rollout_tokens"],
            min_new_tokens=s["rollout_tokens"],
            top_k=0,
            pad_token_id=0,
        )
    model.config.use_cache = False
    model.train()
    return {"generated_tokens": int((out.shape[1] - s["prompt"]) * out.shape[0])}


def update(model: Any, jc: dict[str, Any], s: dict[str, Any], vocab: int, device: torch.device) -> dict[str, Any]:
    """One full GRPO update: every completion through micro-batches, backward, clip, AdamW step."""
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(0, vocab, (s["prompt"],), generator=g).tolist() for _ in range(s["group"])]
    completions = [torch.randint(0, vocab, (s["completion"],), generator=g).tolist() for _ in range(s["group"])]
    advantages = torch.tensor([1.0, -1.0] * (s["group"] // 2))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    norm = jc["LossNormaliser"]("dapo", s["group"], s["group"] * s["completion"], s["completion"])
    losses = []
    for start in range(0, s["group"], s["micro_batch"]):
        part = slice(start, start + s["micro_batch"])
        batch = jc["make_batch"](prompts[part], completions[part], 0).to(device)
        logp = jc["completion_logprobs"](model, batch, s["chunk"])
        loss, _ = jc["policy_loss"](logp, logp.detach(), advantages[part].to(device), batch.completion_mask, norm)
        loss.backward()
        losses.append(float(loss.detach()))
        del logp, loss, batch
    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {"loss": sum(losses), "grad_norm": grad_norm, "trained_tokens": s["group"] * s["completion"]}


def plan_for(jc: dict[str, Any], model_config: dict[str, Any], s: dict[str, Any]) -> Any:
    """`judgecraft train --plan` for the same settings (rollout "hf": no vLLM resident while training)."""
    cfg = jc["TrainConfig"](
        model="qwen2.5-14b",
        prompts_per_step=1,
        group_size=s["group"],
        max_prompt_tokens=s["prompt"],
        max_completion_tokens=s["completion"],
        micro_batch=s["micro_batch"],
        logprob_chunk=s["chunk"],
        lora_rank=s["rank"],
        dtype="bfloat16",
        gradient_checkpointing=True,
        rollout="hf",
        loss="dapo",
    )
    return jc["plan_memory"](cfg, model_config=model_config, gpu_bytes=H100_80GB_BYTES)


def compare(meter: Meter, plan: Any) -> dict[str, Any]:
    train = meter.phases.get("train", {})
    measured = train.get("peak_allocated_bytes")
    if measured is None:
        why = "no CUDA device: memory was not measured" if not meter.cuda else "the train phase has not run yet"
        return {"measured": False, "why": why}
    error = (plan.train_bytes + plan.overhead_bytes - measured) / measured
    reserved = max(p.get("peak_reserved_bytes", 0) for p in meter.phases.values())
    return {
        "measured": True,
        "plan_train_bytes": plan.train_bytes,
        "plan_train_plus_overhead_bytes": plan.train_bytes + plan.overhead_bytes,
        "measured_train_peak_allocated_bytes": measured,
        "plan_error": round(error, 4),  # (plan - measured) / measured
        "within_target": abs(error) <= TARGET_PLAN_ERROR,
        "peak_reserved_bytes": reserved,
        "fits_80gb": reserved <= H100_80GB_BYTES,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny random model on the CPU (the test)")
    parser.add_argument("--no-rollout", action="store_true", help="skip the HF rollout phase")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    jc = light_judgecraft()
    s = settings(args.tiny)
    model_config = TINY_CONFIG if args.tiny else jc["load_model_config"]("qwen2.5-14b")
    device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    torch.manual_seed(0)
    meter = Meter(device)
    plan = plan_for(jc, model_config, s)

    def write_report() -> dict[str, Any]:
        """The report so far, written after every phase: a run cut short keeps what it measured."""
        report = {
            "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
            "torch": torch.__version__,
            "tiny": args.tiny,
            "settings": s | {"dtype": "bfloat16", "gradient_checkpointing": True, "lora_targets": "all linears"},
            "phases": meter.phases,
            "plan": {k: v for k, v in plan.to_dict().items() if k != "lines"} | {"lines": plan.to_dict()["lines"]},
            "comparison": compare(meter, plan),
            "heavy_modules_imported": sorted(
                m for m in ("vllm", "rapidfuzz", "math_verify", "lxml") if m in sys.modules
            ),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        return report

    meter.start()
    model = build_policy(model_config, s["rank"], device)
    meter.stop("load", parameters=sum(p.numel() for p in model.parameters()))
    write_report()
    if not args.no_rollout:
        meter.start()
        info = rollout(model, s, model_config["vocab_size"], device)
        meter.stop("rollout", **info)
        write_report()
        if device.type == "cuda":
            torch.cuda.empty_cache()  # as the trainer does between phases
    meter.start()
    info = update(model, jc, s, model_config["vocab_size"], device)
    meter.stop("train", **info)
    report = write_report()
    c = report["comparison"]
    verdict = (
        f"train peak {c['measured_train_peak_allocated_bytes'] / 2**30:.2f} GiB vs plan "
        f"{c['plan_train_plus_overhead_bytes'] / 2**30:.2f} GiB ({c['plan_error']:+.1%}); fits 80 GB: {c['fits_80gb']}"
        if c["measured"]
        else c["why"]
    )
    print(f"gpu_14b: {verdict}; {args.out}")


if __name__ == "__main__":
    main()
