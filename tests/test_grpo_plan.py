"""The memory plan: exact parameter counts against transformers/peft, the saved-activation formula against the
tensors autograd really saves, and how the plan moves with the run's settings. No weights are loaded."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoConfig, AutoModelForCausalLM

from judgecraft.grpo.config import TrainConfig
from judgecraft.grpo.plan import (
    GiB,
    ModelShape,
    bundled_model_configs,
    load_model_config,
    plan_memory,
)
from judgecraft.models import small_model_dir

ALL_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def hf_config(model: str) -> Any:
    if model == "smollm2":
        return AutoConfig.from_pretrained(small_model_dir())
    data = load_model_config(model)
    return AutoConfig.for_model(**{k: v for k, v in data.items() if k != "transformers_version"})


def meta_model(model: str) -> torch.nn.Module:
    """The real transformers model class, built on the meta device: shapes without memory."""
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(hf_config(model))


def run_14b(**changes: Any) -> TrainConfig:
    base = TrainConfig(
        model="qwen2.5-14b",
        dtype="bfloat16",
        lora_rank=16,
        group_size=8,
        prompts_per_step=2,
        max_completion_tokens=4096,
        gradient_checkpointing=True,
        logprob_chunk=512,
    )
    return dataclasses.replace(base, **changes).validate()


@pytest.mark.parametrize("model", ["smollm2", *bundled_model_configs()])
def test_parameter_count_matches_transformers(model: str) -> None:
    real = sum(p.numel() for p in meta_model(model).parameters())
    assert ModelShape.from_config(load_model_config(model)).parameters() == real


def test_qwen25_14b_is_about_14_77_billion() -> None:
    count = ModelShape.from_config(load_model_config("qwen2.5-14b")).parameters()
    assert abs(count / 14.77e9 - 1) < 0.005


@pytest.mark.parametrize(
    ("model", "rank", "targets"),
    [
        ("smollm2", 16, ALL_TARGETS),
        ("smollm2", 8, ["q_proj", "v_proj"]),
        ("smollm2", 4, ["o_proj", "down_proj"]),
        ("qwen2.5-7b", 16, ALL_TARGETS),
    ],
)
def test_lora_count_matches_peft(model: str, rank: int, targets: list[str]) -> None:
    peft_model = get_peft_model(meta_model(model), LoraConfig(r=rank, target_modules=targets, task_type="CAUSAL_LM"))
    real = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert ModelShape.from_config(load_model_config(model)).lora_parameters(rank, targets) == real


def saved_bytes(layers: int, dtype: torch.dtype, targets: list[str], batch: int, length: int) -> int:
    """Bytes of the distinct non-parameter tensors autograd saves in a LoRA-wrapped decoder's forward."""
    config = AutoConfig.from_pretrained(small_model_dir())
    config.num_hidden_layers = layers
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model = get_peft_model(model, LoraConfig(r=8, target_modules=targets, task_type="CAUSAL_LM"))
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    ids = torch.randint(0, config.vocab_size, (batch, length))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.get_base_model().get_decoder()(input_ids=ids, use_cache=False)
    return sum(saved.values())


@pytest.mark.parametrize(
    ("dtype", "targets"),
    [(torch.bfloat16, ALL_TARGETS), (torch.float32, ALL_TARGETS), (torch.bfloat16, ["q_proj", "v_proj", "down_proj"])],
)
def test_layer_activation_formula_matches_saved_tensors(dtype: torch.dtype, targets: list[str]) -> None:
    batch, length = 2, 32
    per_layer = (saved_bytes(3, dtype, targets, batch, length) - saved_bytes(1, dtype, targets, batch, length)) / 2
    shape = ModelShape.from_config(load_model_config("smollm2"))
    bytes_per = torch.tensor([], dtype=dtype).element_size()
    predicted = shape.layer_activation_bytes_per_token(bytes_per, 8, targets, repeat_kv=False) * batch * length
    assert predicted == pytest.approx(per_layer, rel=0.02)


def kv_wanted(plan: Any) -> int:
    return next(line.bytes for line in plan.lines if line.name.startswith("KV cache wanted"))


def test_kv_cache_is_linear_in_sequences_and_length() -> None:
    base = plan_memory(run_14b(group_size=4, max_completion_tokens=1024))  # L = 1024 + 1024
    more_sequences = plan_memory(run_14b(group_size=8, max_completion_tokens=1024))
    longer = plan_memory(run_14b(group_size=4, max_completion_tokens=3072))  # L = 4096
    # 2 prompts x 4 completions, K and V, 48 layers x 8 kv heads x 128 dims, bf16
    assert kv_wanted(base) == (2 * 4) * base.sequence_length * 2 * 48 * 8 * 128 * 2
    assert kv_wanted(more_sequences) == 2 * kv_wanted(base)
    assert kv_wanted(longer) == 2 * kv_wanted(base)
    assert more_sequences.vllm_needed_bytes - base.vllm_needed_bytes == kv_wanted(base)
    assert more_sequences.suggested_memory_fraction > base.suggested_memory_fraction


def test_train_phase_grows_with_completion_length() -> None:
    lengths = [1024, 2048, 4096]
    train = [plan_memory(run_14b(max_completion_tokens=t)).train_bytes for t in lengths]
    assert train[0] < train[1] < train[2]


def test_gradient_checkpointing_lowers_activations() -> None:
    def activations(plan: Any) -> int:
        return next(line.bytes for line in plan.lines if line.name.startswith("activations"))

    with_ckpt = plan_memory(run_14b(gradient_checkpointing=True))
    without = plan_memory(run_14b(gradient_checkpointing=False))
    assert activations(with_ckpt) * 5 < activations(without)
    assert with_ckpt.train_bytes < without.train_bytes


def test_chunked_logprobs_hold_chunk_not_sequence() -> None:
    def logits(plan: Any) -> int:
        return next(line.bytes for line in plan.lines if line.name.startswith("log-prob chunk"))

    assert logits(plan_memory(run_14b(logprob_chunk=256))) * 2 == logits(plan_memory(run_14b(logprob_chunk=512)))
    # a chunk longer than the completion holds only the completion
    assert logits(plan_memory(run_14b(logprob_chunk=100_000))) == logits(plan_memory(run_14b(logprob_chunk=4096)))


def test_sleep_frees_vllm_during_training() -> None:
    awake = plan_memory(run_14b(vllm_sleep=False, vllm_memory_fraction=0.56))
    asleep = plan_memory(run_14b(vllm_sleep=True, vllm_memory_fraction=0.56))
    assert awake.train_bytes - asleep.train_bytes > 40 * GiB
    assert awake.rollout_bytes == asleep.rollout_bytes


def test_14b_default_fraction_is_too_small_for_vllm() -> None:
    """0.35 x 80 GiB = 28 GiB cannot hold 27.5 GiB of bf16 weights plus a 5k-token KV cache and a workspace."""
    plan = plan_memory(run_14b())
    assert plan.vllm_concurrent_sequences == 0
    assert not plan.vllm_starts and not plan.fits
    assert "will not start" in plan.render()


@pytest.mark.parametrize("prompts_per_step", [1, 2])
def test_14b_grpo_fits_80gib_with_the_suggested_fraction(prompts_per_step: int) -> None:
    first = plan_memory(run_14b(prompts_per_step=prompts_per_step))
    assert first.suggested_memory_fraction is not None and 0.35 < first.suggested_memory_fraction < 0.7
    plan = plan_memory(
        run_14b(prompts_per_step=prompts_per_step, vllm_memory_fraction=first.suggested_memory_fraction),
        gpu_bytes=80 * GiB,
    )
    assert plan.fits, plan.render()
    assert plan.vllm_concurrent_sequences == prompts_per_step * 8
    assert plan.peak_bytes == max(plan.rollout_bytes, plan.train_bytes) + plan.overhead_bytes
    assert plan.headroom_bytes == 80 * GiB - plan.peak_bytes > 0
    text = plan.render()
    assert "fits in 80.00 GiB" in text and "KV cache" in text and "log-prob chunk" in text


def test_small_gpu_does_not_fit() -> None:
    plan = plan_memory(run_14b(vllm_memory_fraction=0.56), gpu_bytes=40 * GiB)
    assert not plan.fits and plan.headroom_bytes < 0
    assert "does NOT fit" in plan.render()


def test_hf_rollout_has_no_vllm_reservation() -> None:
    plan = plan_memory(run_14b(rollout="hf"))
    assert plan.vllm_reserved_bytes == 0 and plan.suggested_memory_fraction is None
    assert plan.rollout_bytes < plan.train_bytes


def test_model_config_sources(tmp_path: Any) -> None:
    assert load_model_config("smollm2")["hidden_size"] == 576
    assert load_model_config(str(small_model_dir()))["num_hidden_layers"] == 30
    path = tmp_path / "tiny.json"
    path.write_text('{"model_type": "llama"}', encoding="utf-8")
    assert load_model_config(str(path)) == {"model_type": "llama"}
    assert plan_memory(TrainConfig()).parameters == ModelShape.from_config(load_model_config("smollm2")).parameters()


def test_bad_model_names_are_clear_errors(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match=r"unknown model 'qwen9-1t'.*qwen2\.5-14b"):
        load_model_config("qwen9-1t")
    with pytest.raises(ValueError, match=r"no config\.json"):
        load_model_config(str(tmp_path))
    with pytest.raises(ValueError, match="lacks 'hidden_size'"):
        plan_memory(TrainConfig(), model_config={"model_type": "llama"})
    with pytest.raises(ValueError, match="not supported"):
        plan_memory(TrainConfig(), model_config={"model_type": "gpt2"})
