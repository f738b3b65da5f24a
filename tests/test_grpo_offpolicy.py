"""Off-policy correction, independent seeds, schedules, overlong handling, setting checks and the hacking monitor."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from judgecraft.grpo.config import VLLM_LORA_RANKS, TrainConfig, TrainConfigError, load_train_config
from judgecraft.grpo.losses import LossNormaliser, policy_loss
from judgecraft.grpo.monitor import CopyDetector, copyable_components, copying_flag, zero_variance_shares
from judgecraft.grpo.rollout import sample_seed
from judgecraft.grpo.scoring import overlong_penalty
from judgecraft.scorer import Scorer

PKV_PROMPT = """Answer in exactly this format:
<competition>
<pirate>Arr, 2 + 3 be 5.</pirate>
<knight>Verily, 2 + 3 is 5.</knight>
<viking>By Odin, 2 + 3 is 5.</viking>
<result>Beep. All agree. <winner>knight</winner></result>
</competition>
The answer is 5."""


def test_sampler_logprobs_as_old_policy_clip_and_truncate_by_hand():
    # Four tokens of one completion; the trainer's log-probs vs the sampler's (vLLM's) for the same tokens.
    trainer = torch.tensor([[-1.0, -1.0, -1.0, -1.0]], requires_grad=True)
    sampler = torch.tensor([[-1.0, -1.5, -0.5, -3.0]])  # ratios 1, e^0.5=1.65, e^-0.5=0.61, e^2=7.4
    mask = torch.ones(1, 4)
    norm = LossNormaliser("dapo", 1, 4, 4)
    # Without the correction (old = the trainer's own), every ratio is 1: nothing clipped, no gap visible.
    _, plain = policy_loss(trainer, trainer.detach(), torch.tensor([1.0]), mask, norm, 0.2, 0.2)
    assert plain.clip_fraction == 0 and plain.capped_fraction == 0
    # With it and a positive advantage: token 2 (1.65 > 1.2) is clipped, token 4 (7.4 > cap 2) is truncated.
    loss, pos = policy_loss(trainer, sampler, torch.tensor([1.0]), mask, norm, 0.2, 0.2, is_cap=2.0)
    assert pos.clip_fraction == pytest.approx(0.5) and pos.capped_fraction == pytest.approx(0.25)
    loss.backward()
    grad = trainer.grad[0].tolist()
    assert grad[0] != 0 and grad[2] != 0  # ratio 1 and 0.61 are inside the trust region for A > 0
    assert grad[1] == 0 and grad[3] == 0  # clipped and truncated tokens give no gradient
    # Negative advantage: the PPO clip leaves ratio 7.4 open; the cap bounds its loss at 2 x |A| per token.
    trainer.grad = None
    loss, neg = policy_loss(trainer, sampler, torch.tensor([-1.0]), mask, norm, 0.2, 0.2, is_cap=2.0)
    loss_uncapped, _ = policy_loss(trainer, sampler, torch.tensor([-1.0]), mask, norm, 0.2, 0.2)
    assert neg.capped_fraction == pytest.approx(0.25) and neg.clip_fraction == pytest.approx(0.25)  # token 3
    assert float(loss.detach()) == pytest.approx((1 + math.exp(0.5) + 0.8 + 2.0) / 4, rel=1e-5)
    assert float(loss_uncapped.detach()) > float(loss.detach()) + 1


def test_every_sample_has_its_own_reproducible_seed_stream():
    grid = [(step, i, j) for step in range(3) for i in range(4) for j in range(8)]
    seeds = [sample_seed(0, *key) for key in grid]
    assert len(set(seeds)) == len(grid)  # prompt 1's streams are not prompt 0's shifted by one
    assert seeds == [sample_seed(0, *key) for key in grid]  # same run seed, same streams
    assert not set(seeds) & {sample_seed(1, *key) for key in grid}  # another run seed, other streams


def test_learning_rate_warms_up_then_decays():
    cosine = TrainConfig(steps=10, warmup_steps=2, lr_schedule="cosine", learning_rate=1.0)
    lrs = [cosine.lr_at(s) for s in range(10)]
    assert lrs[0] < lrs[1] < lrs[2] == 1.0 and all(a >= b for a, b in itertools.pairwise(lrs[2:]))
    assert lrs[-1] < 0.05
    linear = TrainConfig(steps=10, lr_schedule="linear", learning_rate=1.0)
    assert [round(linear.lr_at(s), 3) for s in (0, 5)] == [1.0, 0.5]
    assert TrainConfig(steps=10).lr_at(9) == TrainConfig().learning_rate


def test_truncated_sampling_is_refused_with_the_reason(tmp_path):
    for key, value in (("top_p", 0.9), ("top_k", 50)):
        with pytest.raises(TrainConfigError, match=f"{key}.*full vocabulary"):
            load_train_config(None, **{key: value})


def test_lora_rank_maps_to_a_rank_vllm_accepts_before_loading():
    assert TrainConfig(lora_rank=24).validate().vllm_max_lora_rank == 32
    assert TrainConfig(lora_rank=4).validate().vllm_max_lora_rank == 8
    with pytest.raises(TrainConfigError, match="lora_rank"):
        TrainConfig(lora_rank=600).validate()
    lora = pytest.importorskip("vllm.config.lora")
    import typing

    assert tuple(typing.get_args(lora.MaxLoRARanks)) == VLLM_LORA_RANKS  # the installed vLLM's own list


def test_missing_files_are_found_before_anything_loads(tmp_path):
    with pytest.raises(TrainConfigError, match=r"\[eval_data\].*no such file"):
        load_train_config(None, eval_every=5, eval_data=str(tmp_path / "nope.jsonl")).check_inputs()
    with pytest.raises(TrainConfigError, match=r"\[model\]"):
        load_train_config(None, model=str(tmp_path / "no-model")).check_inputs()
    with pytest.raises(TrainConfigError, match="warmup_steps"):
        load_train_config(None, steps=3, warmup_steps=3)


def test_soft_overlong_penalty_is_linear_over_the_buffer():
    assert [overlong_penalty(n, 64, 16, 0.5) for n in (10, 48, 56, 64)] == [0.0, 0.0, -0.25, -0.5]
    assert overlong_penalty(64, 64, 0, 0.5) == 0.0


def test_copy_detector_finds_the_example_not_an_original_answer():
    copies = CopyDetector(PKV_PROMPT)
    assert copies.copies("Arr, 2 + 3 be 5.</pirate>\n<knight>Verily, 2 + 3 is 5.</knight>")
    assert not copies.copies("Arr, 17 minus 9 leaves 8 doubloons.</pirate>\n<knight>Subtracting 9 from 17 gives 8.")
    assert not CopyDetector("").copies("anything at all here")


def test_copyable_components_of_the_one_shot_prompt():
    scorer = Scorer("pkv", stage="round1")
    found = copyable_components(scorer, PKV_PROMPT, "<competition>\n<pirate>")
    assert "tags" in found and set(found) <= set(scorer.active)
    assert copyable_components(scorer, "", "") == []


def test_zero_variance_share_per_component():
    shares = zero_variance_shares({"tags": [1, 1, 0, 1], "correctness": [0, 0, 0, 0]}, group_size=2)
    assert shares == {"zero_var/tags": 0.5, "zero_var/correctness": 1.0}


def test_copying_flag_fires_only_when_the_rise_is_copyable():
    def rows(tags, correctness, copy):
        return [
            {"step": s, "reward_mean": t + c, "reward/tags": t, "reward/correctness": c, "copy_share": k}
            | {"copyable_components": ["tags"]}
            for s, (t, c, k) in enumerate(zip(tags, correctness, copy, strict=True))
        ]

    ramp = [0.1 * s for s in range(10)]
    assert "copy" in copying_flag(rows(ramp, [0.0] * 10, [s / 10 for s in range(10)]))
    assert copying_flag(rows(ramp, ramp, [s / 10 for s in range(10)])) is None  # correctness rose too
    assert copying_flag(rows(ramp, [0.0] * 10, [0.0] * 10)) is None  # nothing copies


@pytest.mark.slow
def test_the_14b_check_runs_tiny_on_the_cpu_without_the_scorer_stack(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "gpu_14b.json"
    cmd = [sys.executable, "-I", str(root / "benchmarks" / "gpu_14b.py"), "--tiny", "--out", str(out)]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["heavy_modules_imported"] == []  # runs where rapidfuzz, math-verify, lxml and vLLM are absent
    assert set(report["phases"]) == {"load", "rollout", "train"}
    train = report["phases"]["train"]
    assert train["grad_norm"] > 0 and math.isfinite(train["loss"]) and train["trained_tokens"] == 64
    assert report["plan"]["train_bytes"] > report["plan"]["parameters"] * 2  # bf16 weights and more
    assert report["comparison"] == {"measured": False, "why": "no CUDA device: memory was not measured"}


def test_weight_sync_is_merge_only_on_the_cpu_in_float32():
    assert TrainConfig().validate().weight_sync(on_gpu=False) == "merge"
    assert TrainConfig().weight_sync(on_gpu=True) == "lora"
    assert TrainConfig(dtype="bfloat16").weight_sync(on_gpu=False) == "lora"  # a bf16 merge rounds updates away
    assert TrainConfig(vllm_weight_sync="lora").weight_sync(on_gpu=False) == "lora"
    with pytest.raises(TrainConfigError, match="vllm_weight_sync"):
        TrainConfig(vllm_weight_sync="copy").validate()


@pytest.mark.vllm
def test_merged_weights_in_vllm_are_the_trainers_policy_after_every_update(small_model):
    """vLLM samples from the merged policy: its log-probs are the trainer's, not the base model's, and stay so
    after the adapter changes (the prefix cache of the old weights is not reused)."""
    from judgecraft.grpo.logprobs import completion_logprobs, make_batch
    from judgecraft.grpo.policy import load_policy
    from judgecraft.grpo.rollout import VLLMRollout

    torch.manual_seed(0)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    policy = load_policy(str(small_model), lora_rank=8, lora_targets=targets)
    tok = policy.tokenizer
    prompt = tok("You are a pirate. What is 2 + 3? Answer in one short line, please.")["input_ids"]
    rollout = VLLMRollout(str(small_model), max_lora_rank=8, max_model_len=128, weight_sync="merge")
    try:
        for step in range(2):
            with torch.no_grad():  # an "update": a new adapter, far enough from the base to show
                for param in policy.trainable_parameters():
                    param.add_(torch.randn_like(param) * 0.03)
            rollout.load_policy(policy.model)
            samples = rollout.generate([prompt], 3, max_tokens=8, temperature=1.0, adapter_dir=None, seed=0, step=step)
            assert rollout.layers_written == 4 * policy.model.config.num_hidden_layers  # qkv, o, gate_up, down
            batch = make_batch([prompt] * 3, [s.completion_ids for s in samples], tok.pad_token_id)
            sampler = torch.zeros_like(batch.completion_mask)
            for i, s in enumerate(samples):
                sampler[i, : len(s.logprobs)] = torch.tensor(s.logprobs)
            with torch.no_grad():
                trainer = completion_logprobs(policy.model, batch)
                with policy.reference():
                    base = completion_logprobs(policy.model, batch)
            mask = batch.completion_mask
            assert float(((trainer - sampler) * mask).abs().max()) < 1e-3
            assert float(((base - sampler) * mask).abs().max()) > 1e-2
    finally:
        rollout.close()
