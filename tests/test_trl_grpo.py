"""A real TRL GRPOTrainer, on the real small model, trained for two steps with judgecraft's rewards."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from judgecraft.rewards import AwaitableReward, RewardBatch, trl_rewards

pytestmark = pytest.mark.train
ROOT = Path(__file__).resolve().parent.parent


def questions() -> list[dict]:
    path = ROOT / "examples" / "questions.jsonl"
    if path.exists():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [{"question": r["question"], "answer": r["answer"]} for r in rows[:4]]
    return [{"question": f"What is {a} + {b}?", "answer": str(a + b)} for a, b in ((2, 3), (7, 5), (10, 4), (6, 6))]


async def answer_length(batch: RewardBatch) -> list[float | None]:
    """An async reward (the judge's path in TRL): the share of the first 200 characters used, None for non-text."""
    return [None if t is None else min(len(t), 200) / 200 for t in batch.texts]


def test_grpo_trainer_logs_every_judgecraft_component(small_model, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    # Short conversational prompts (the construct's long system prompt would only make the CPU steps slower).
    data = Dataset.from_list(
        [{"prompt": [{"role": "user", "content": q["question"]}], "answer": q["answer"]} for q in questions()]
    )
    funcs, weights = trl_rewards("pkv", stage="round2")
    judge_like = AwaitableReward(answer_length, name="async_length")
    config = GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=16,
        learning_rate=1e-5,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        temperature=0.8,
        seed=0,
        reward_weights=[*weights, 0.0],
        dataloader_num_workers=0,
    )
    trainer = GRPOTrainer(model=str(small_model), reward_funcs=[*funcs, judge_like], args=config, train_dataset=data)
    trainer.train()

    logs = [entry for entry in trainer.state.log_history if any(k.startswith("rewards/") for k in entry)]
    assert len(logs) == 2  # one per step
    for func in [*funcs, judge_like]:
        key = f"rewards/{func.__name__}/mean"
        assert all(key in entry for entry in logs), key
    for entry in logs:
        for name in ("total", "tags", "structure", "correctness", "reflection", "originality", "winner"):
            value = entry[f"rewards/{name}/mean"]
            assert math.isfinite(value), (name, value)
        assert entry["reward"] == pytest.approx(entry["rewards/total/mean"], abs=1e-5)  # trained on the total only
    session = funcs[0].session
    completions = 2 * 2  # steps x (prompts per step x generations)
    assert 0 < session.scored <= completions  # one scoring pass: the other functions read the cache
    assert session.scored + session.reused == completions * len(funcs)
