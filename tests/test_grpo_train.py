"""Real GRPO runs on the CPU: SmolLM2-135M, vLLM rollouts with the LoRA adapter, judgecraft's round-1 rewards.

One short run (in a subprocess: vLLM spawns workers) serves three checks: the format reward rises,
every metric is logged, and a run stopped and resumed from its checkpoint carries on where it was.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.train, pytest.mark.vllm]
ROOT = Path(__file__).resolve().parent.parent
STEPS = int(os.environ.get("JUDGECRAFT_TEST_GRPO_STEPS", "20"))


def train(tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable, "-m", "judgecraft", "train", "--config", str(ROOT / "examples" / "grpo-smollm2-test.toml"),
        "--output", str(tmp), "--quiet", *extra,
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "2", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("grpo")
    first = train(out, "--steps", str(STEPS // 2))
    assert first.returncode == 0, first.stderr[-3000:]
    assert (out / "latest").read_text() == f"checkpoint-{STEPS // 2:06d}"
    second = train(out, "--steps", str(STEPS))  # resumes from the checkpoint
    assert second.returncode == 0, second.stderr[-3000:]
    assert "grpo:" in second.stdout
    return out


def test_the_format_reward_rises(run):
    rows = metrics(run)
    assert [r["step"] for r in rows] == list(range(STEPS))
    # Step 0 samples from the base model (LoRA's B starts at zero); the last steps from the trained policy.
    k = max(3, STEPS // 4)
    tags_last = statistics.fmean(r["reward/tags"] for r in rows[-k:])
    reward_last = statistics.fmean(r["reward_mean"] for r in rows[-k:])
    assert tags_last > rows[0]["reward/tags"] + 0.1, (rows[0]["reward/tags"], tags_last)
    assert reward_last > rows[0]["reward_mean"], (rows[0]["reward_mean"], reward_last)


def test_every_metric_is_logged_every_step(run):
    keys = {
        "loss", "kl", "clip_fraction", "grad_norm", "reward_mean", "reward_std", "reward/tags", "reward/structure",
        "reward/correctness", "completion_tokens", "zero_std_share", "tokens_per_s", "step_seconds", "sample",
    }  # fmt: skip
    for row in metrics(run):
        assert keys <= row.keys()
        assert 0 <= row["zero_std_share"] <= 1 and row["tokens_per_s"] > 0
        assert 0 < row["completion_tokens"] <= 64


def test_resume_continued_the_run_instead_of_restarting(run):
    rows = metrics(run)
    # The resumed half trained the adapter saved at the half-way checkpoint: its rewards continue the trend
    # rather than falling back to the base model's (the first steps').
    half = STEPS // 2
    state = __import__("torch").load(run / f"checkpoint-{STEPS:06d}" / "state.pt", weights_only=False)
    assert state["next_step"] == STEPS
    assert len(state["optimizer"]["state"]) > 0  # the optimiser's moments were saved and restored
    assert statistics.fmean(r["reward/tags"] for r in rows[half:]) >= statistics.fmean(
        r["reward/tags"] for r in rows[:3]
    )
    assert not (run / f"checkpoint-{half:06d}").exists()  # older checkpoints are removed once `latest` moves
