"""The GRPO loop's parts on their own: advantages, losses, chunked log-probs, the reference policy, configs."""

from __future__ import annotations

import math

import pytest
import torch

from judgecraft.grpo.config import TrainConfigError, load_train_config
from judgecraft.grpo.logprobs import completion_logprobs, make_batch
from judgecraft.grpo.loop import MetricsLog, prompt_order
from judgecraft.grpo.losses import LossNormaliser, group_advantages, kl_k3, policy_loss

# ---------------------------------------------------------------- advantages


def test_group_advantages_by_hand():
    adv = group_advantages(torch.tensor([1.0, 0.0, 1.0, 0.0, 0.5, 0.5, 0.5, 0.5]), 4, "group")
    std = torch.tensor([1.0, 0.0, 1.0, 0.0]).std().item()
    assert adv.values[:4].tolist() == pytest.approx([0.5 / (std + 1e-4), -0.5 / (std + 1e-4)] * 2)
    assert adv.values[4:].tolist() == [0.0] * 4  # an all-equal group: exactly zero, not NaN
    assert adv.zero_std.tolist() == [False] * 4 + [True] * 4
    assert adv.zero_std_share == 0.5


def test_unscaled_advantages_for_dr_grpo_and_no_nan_anywhere():
    adv = group_advantages(torch.tensor([3.0, 1.0, 2.0, 2.0]), 2, "none")
    assert adv.values.tolist() == [1.0, -1.0, 0.0, 0.0]
    same = group_advantages(torch.zeros(6), 3, "group")
    assert not torch.isnan(same.values).any() and same.zero_std_share == 1.0
    with pytest.raises(ValueError, match="groups of 4"):
        group_advantages(torch.zeros(6), 4)


# ---------------------------------------------------------------- losses


def _random_case(seed: int, sequences: int = 6, tokens: int = 9):
    g = torch.Generator().manual_seed(seed)
    logp = -torch.rand(sequences, tokens, generator=g) * 3
    old = logp + torch.randn(sequences, tokens, generator=g) * 0.3
    ref = logp + torch.randn(sequences, tokens, generator=g) * 0.2
    lengths = torch.randint(1, tokens + 1, (sequences,), generator=g)
    mask = (torch.arange(tokens).unsqueeze(0) < lengths.unsqueeze(1)).float()
    adv = torch.randn(sequences, generator=g)
    return logp, old, ref, mask, adv


@pytest.mark.parametrize("kind", ["grpo", "dr_grpo", "dapo"])
def test_micro_batches_add_up_to_the_whole_batch(kind):
    logp, old, ref, mask, adv = _random_case(1)
    norm = LossNormaliser(kind, sequences=6, tokens=int(mask.sum()), max_completion_tokens=9)
    options = dict(clip_low=0.2, clip_high=0.28, kl_coef=0.05)
    whole, _ = policy_loss(logp, old, adv, mask, norm, ref_logp=ref, **options)
    parts = sum(
        policy_loss(logp[s], old[s], adv[s], mask[s], norm, ref_logp=ref[s], **options)[0]
        for s in (slice(0, 1), slice(1, 4), slice(4, 6))
    )
    assert float(parts) == pytest.approx(float(whole), rel=1e-5)


def test_the_three_normalisers_by_hand():
    token_loss = torch.tensor([[1.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # grpo: per-sequence mean (1, 2), then mean over sequences
    assert float(LossNormaliser("grpo", 2, 3, 4).reduce(token_loss, mask)) == pytest.approx(1.5)
    # dr_grpo: sum / (sequences x max completion tokens) = 4 / 8
    assert float(LossNormaliser("dr_grpo", 2, 3, 4).reduce(token_loss, mask)) == pytest.approx(0.5)
    # dapo: sum / tokens of the batch = 4 / 3
    assert float(LossNormaliser("dapo", 2, 3, 4).reduce(token_loss, mask)) == pytest.approx(4 / 3)


def test_padding_never_reaches_the_loss():
    logp, old, _, mask, adv = _random_case(2)
    norm = LossNormaliser("dapo", 6, int(mask.sum()), 9)
    base, _ = policy_loss(logp, old, adv, mask, norm)
    noisy = torch.where(mask.bool(), logp, torch.full_like(logp, 50.0))  # garbage on padding
    changed, _ = policy_loss(noisy, old, adv, mask, norm)
    assert float(changed) == pytest.approx(float(base))


def test_clipping_is_asymmetric_and_counted():
    logp = torch.log(torch.tensor([[1.25, 1.35, 0.7]]))  # ratios against old log-prob 0
    old = torch.zeros_like(logp)
    mask = torch.ones_like(logp)
    norm = LossNormaliser("dapo", 1, 3, 3)
    _, narrow = policy_loss(logp, old, torch.tensor([1.0]), mask, norm, clip_low=0.2, clip_high=0.2)
    _, wide = policy_loss(logp, old, torch.tensor([1.0]), mask, norm, clip_low=0.2, clip_high=0.28)
    assert narrow.clip_fraction == pytest.approx(2 / 3)  # 1.25 and 1.35 above 1.2
    assert wide.clip_fraction == pytest.approx(1 / 3)  # only 1.35 above 1.28
    _, negative = policy_loss(logp, old, torch.tensor([-1.0]), mask, norm, clip_low=0.2, clip_high=0.28)
    assert negative.clip_fraction == pytest.approx(1 / 3)  # 0.7 below 0.8 with a negative advantage


def test_kl_is_zero_at_the_reference_and_positive_away_from_it():
    logp = torch.tensor([[-1.0, -2.0]])
    assert kl_k3(logp, logp).abs().max() == 0
    assert (kl_k3(logp, logp + 0.3) > 0).all()
    with pytest.raises(ValueError, match="reference"):
        policy_loss(
            logp, logp, torch.tensor([1.0]), torch.ones_like(logp), LossNormaliser("grpo", 1, 2, 2), kl_coef=0.1
        )


def test_on_policy_gradient_is_the_advantage_weighted_score():
    """With old == current (one update per batch), d loss / d logp = -A / |o| for grpo."""
    logp = torch.tensor([[-1.0, -0.5, -2.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss, _ = policy_loss(logp, logp.detach(), torch.tensor([2.0]), mask, LossNormaliser("grpo", 1, 2, 3))
    loss.backward()
    assert logp.grad[0].tolist() == pytest.approx([-1.0, -1.0, 0.0])


# ---------------------------------------------------------------- chunked log-probs and the reference policy


@pytest.fixture(scope="module")
def policy(small_model):
    from judgecraft.grpo.policy import load_policy

    torch.manual_seed(0)
    p = load_policy(str(small_model), lora_rank=4, lora_targets=["q_proj", "v_proj"])
    with torch.no_grad():  # move the adapter away from zero so policy != reference
        for param in p.trainable_parameters():
            param.add_(torch.randn_like(param) * 0.02)
    return p


def _full_logits_logprobs(model, batch):
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits.float()
    logp = torch.log_softmax(logits, dim=-1)
    out = torch.zeros_like(batch.completion_mask)
    for i, p in enumerate(batch.prompt_lengths.tolist()):
        n = int(batch.completion_mask[i].sum())
        positions = torch.arange(p - 1, p - 1 + n)
        out[i, :n] = logp[i, positions, batch.completion_ids[i, :n]]
    return out


def test_chunked_logprobs_and_gradients_equal_the_full_logits(policy):
    tok = policy.tokenizer
    prompts = [tok("What is 2 + 3?")["input_ids"], tok("Name a colour, please.")["input_ids"]]
    completions = [tok(" It is 5, arr.")["input_ids"], tok(" Blue")["input_ids"]]
    batch = make_batch(prompts, completions, tok.pad_token_id)
    params = policy.trainable_parameters()

    reference = _full_logits_logprobs(policy.model, batch)
    (reference.sum()).backward()
    want = [p.grad.clone() for p in params]
    policy.model.zero_grad(set_to_none=True)

    chunked = completion_logprobs(policy.model, batch, chunk=2)
    (chunked.sum()).backward()
    got = [p.grad.clone() for p in params]
    policy.model.zero_grad(set_to_none=True)

    assert torch.allclose(chunked, reference, atol=1e-4)
    assert (chunked[1, len(completions[1]) :] == 0).all()  # padding holds 0
    for g, w in zip(got, want, strict=True):
        assert float((g - w).norm() / w.norm()) < 1e-3  # float32 sums in another order, nothing more


def _logprobs_and_grads(policy, batch, share, chunk=3):
    policy.model.zero_grad(set_to_none=True)
    weights = torch.linspace(-1.0, 1.0, batch.completion_ids.numel()).view_as(batch.completion_mask)
    logp = completion_logprobs(policy.model, batch, chunk=chunk, share_prompts=share)
    (logp * weights).sum().backward()
    grads = torch.cat([p.grad.flatten() for p in policy.trainable_parameters()])
    policy.model.zero_grad(set_to_none=True)
    return logp.detach(), grads


def test_each_prompt_once_gives_the_full_rows_logprobs_and_gradients(small_model):
    from judgecraft.grpo.logprobs import shares_prompts, split_causal_lm
    from judgecraft.grpo.policy import load_policy

    torch.manual_seed(1)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    policy = load_policy(str(small_model), lora_rank=4, lora_targets=targets)
    with torch.no_grad():
        for param in policy.trainable_parameters():
            param.add_(torch.randn_like(param) * 0.02)
    tok = policy.tokenizer
    long_prompt = tok("You are a pirate. Answer in one line. What is 2 + 3?")["input_ids"]
    short_prompt = tok("Name a colour.")["input_ids"]
    texts = [" It is 5, arr matey.", " 5", " Five!", " Blue is my favourite one", " Red", " Green, arr"]
    # Two groups of three, prompts of different lengths, completions of different lengths (padding).
    batch = make_batch([long_prompt] * 3 + [short_prompt] * 3, [tok(t)["input_ids"] for t in texts], tok.pad_token_id)
    decoder, _ = split_causal_lm(policy.model)
    assert batch.prefix_ids.shape[0] == 2 and shares_prompts(decoder, batch)

    full, full_grads = _logprobs_and_grads(policy, batch, share=False)
    once, once_grads = _logprobs_and_grads(policy, batch, share=True)
    assert torch.allclose(once, full, atol=1e-5, rtol=1e-5)
    assert float((once_grads - full_grads).norm() / full_grads.norm()) < 1e-4
    assert float((once_grads - full_grads).abs().max() / full_grads.abs().max()) < 1e-4
    with torch.no_grad(), policy.reference():  # the reference pass (adapter off, no gradient) takes the same path
        ref_full = completion_logprobs(policy.model, batch, share_prompts=False)
        ref_once = completion_logprobs(policy.model, batch)
    assert torch.allclose(ref_once, ref_full, atol=1e-5, rtol=1e-5) and not torch.allclose(ref_once, once)

    # Single-token completions need no second pass; distinct prompts and checkpointed layers keep full rows.
    one = make_batch([short_prompt] * 2, [[tok.eos_token_id], tok(" Red")["input_ids"][:1]], tok.pad_token_id)
    assert torch.allclose(_logprobs_and_grads(policy, one, True)[0], _logprobs_and_grads(policy, one, False)[0])
    distinct = make_batch([long_prompt, short_prompt], [[5], [6]], tok.pad_token_id)
    assert not shares_prompts(decoder, distinct)
    policy.model.get_base_model().gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    try:
        assert not shares_prompts(decoder, batch)
        checkpointed, checkpointed_grads = _logprobs_and_grads(policy, batch, share=True)
    finally:
        policy.model.get_base_model().gradient_checkpointing_disable()
    assert torch.allclose(checkpointed, full, atol=1e-5, rtol=1e-5)
    assert float((checkpointed_grads - full_grads).norm() / full_grads.norm()) < 1e-4


def test_adapter_off_is_exactly_the_base_model(policy, small_model):
    from transformers import AutoModelForCausalLM

    tok = policy.tokenizer
    batch = make_batch([tok("What is 7 - 4?")["input_ids"]], [tok(" 3")["input_ids"]], tok.pad_token_id)
    base = AutoModelForCausalLM.from_pretrained(str(small_model), dtype=torch.float32)
    with torch.no_grad():
        expected = completion_logprobs(base, batch)
        with policy.reference():
            reference = completion_logprobs(policy.model, batch)
        adapted = completion_logprobs(policy.model, batch)
    assert torch.allclose(reference, expected, atol=1e-5)
    assert not torch.allclose(adapted, expected, atol=1e-5)  # the adapter is on again afterwards


# ---------------------------------------------------------------- configs, prompt order, metrics


def test_config_errors_name_the_file_the_key_and_the_problem(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('loss = "ppo"\n')
    with pytest.raises(TrainConfigError, match=r"run\.toml: \[loss\] 'ppo' is not one of"):
        load_train_config(path)
    path.write_text("group_sise = 4\n")
    with pytest.raises(TrainConfigError, match=r"\[group_sise\] unknown key"):
        load_train_config(path)
    path.write_text('steps = "ten"\n')
    with pytest.raises(TrainConfigError, match=r"\[steps\] expected int"):
        load_train_config(path)
    path.write_text("[sft]\nsteps = 3\n")
    with pytest.raises(TrainConfigError, match=r"\[sft\.data\] is required"):
        load_train_config(path)
    path.write_text("group_size = 1\n")
    with pytest.raises(TrainConfigError, match="at least 2"):
        load_train_config(path)
    path.write_text("steps = [\n")
    with pytest.raises(TrainConfigError, match="not valid TOML"):
        load_train_config(path)


def test_config_defaults_follow_the_loss(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('loss = "dapo"\nlearning_rate = 1\n[sft]\ndata = "x.jsonl"\nsteps = 2\n')
    cfg = load_train_config(path, steps=7)
    assert (cfg.effective_clip_high, cfg.effective_scale, cfg.steps, cfg.learning_rate) == (0.28, "group", 7, 1.0)
    assert cfg.sft.steps == 2
    assert load_train_config(None, loss="dr_grpo").effective_scale == "none"


def test_prompt_order_is_a_seeded_endless_shuffle():
    first = prompt_order(5, seed=3, start=0, count=10)
    assert sorted(first[:5]) == list(range(5)) and sorted(first[5:]) == list(range(5))
    assert prompt_order(5, seed=3, start=4, count=3) == first[4:7]  # a resumed run sees the same prompts
    assert prompt_order(5, seed=4, start=0, count=10) != first


def test_metrics_log_drops_the_steps_a_resumed_run_redoes(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path, resume_from=0)
    for step in range(5):
        log.write({"step": step, "reward_mean": step / 10})
    with path.open("a") as f:
        f.write("{broken\n")
    MetricsLog(path, resume_from=3)
    steps = [int(line.split(":")[1].split(",")[0]) for line in path.read_text().splitlines()]
    assert steps == [0, 1, 2]
    assert math.isclose(float(path.read_text().splitlines()[-1].split(":")[-1].rstrip("}")), 0.2)
