"""Stage 1 of the Shannon recipe: `judgecraft traces` turns <think> completions into SFT examples, SFT learns them."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from judgecraft.cli import app

WELL_FORMED = (
    "<think>\n1. {a} + {b}: add the ones.\n2. Then carry.\nFinally, check: it is {s}.\n</think>\nThe answer is {s}."
)


def write_dump(path):
    rows = []
    for i, (a, b) in enumerate([(12, 30), (7, 8), (25, 25), (3, 9)]):
        rows.append({"id": f"ok{i}", "prompt": f"What is {a} + {b}?", "answer": str(a + b),
                     "completion": WELL_FORMED.format(a=a, b=b, s=a + b)})  # fmt: skip
    rows.append(
        {"id": "wrong", "prompt": "What is 2 + 2?", "answer": "4", "completion": WELL_FORMED.format(a=2, b=2, s=5)}
    )
    rows.append({"id": "open", "prompt": "What is 1 + 1?", "answer": "2", "completion": "<think>\n1. one and one"})
    lines = [json.dumps(r) for r in rows] + ["{not json", json.dumps({"id": "nocompletion", "prompt": "hi"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_traces_command_writes_every_row_and_only_good_sft_examples(tmp_path):
    dump, traces, sft = tmp_path / "dump.jsonl", tmp_path / "traces.jsonl", tmp_path / "sft.jsonl"
    write_dump(dump)
    result = CliRunner().invoke(app, ["traces", str(dump), "-o", str(traces), "--sft", str(sft), "--correct-only"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in traces.read_text().splitlines()]
    assert len(records) == 8  # every input row, the broken ones with an error
    by_id = {r["id"]: r for r in records}
    assert by_id["ok0"]["num_steps"] == 3 and by_id["ok0"]["parsed_steps"][0].startswith("1. 12 + 30")
    assert by_id["ok0"]["final_output"] == "The answer is 42." and by_id["ok0"]["well_formed"]
    assert by_id["open"]["well_formed"] is False
    assert sum("error" in r for r in records) == 2
    examples = [json.loads(line) for line in sft.read_text().splitlines()]
    assert [e["id"] for e in examples] == ["ok0", "ok1", "ok2", "ok3"]  # not the wrong answer, not the open trace
    assert examples[0]["completion"].startswith("<think>\n1. 12 + 30") and examples[0]["prompt"] == "What is 12 + 30?"


@pytest.mark.train  # 12 real SFT steps: kept out of `make test-fast`
def test_sft_stage_learns_the_traces(tmp_path, small_model):
    from judgecraft.grpo.config import SFTConfig
    from judgecraft.grpo.policy import load_policy
    from judgecraft.grpo.sft import run_sft

    dump, traces, sft = tmp_path / "dump.jsonl", tmp_path / "traces.jsonl", tmp_path / "sft.jsonl"
    write_dump(dump)
    assert CliRunner().invoke(app, ["traces", str(dump), "-o", str(traces), "--sft", str(sft)]).exit_code == 0
    torch.manual_seed(0)
    policy = load_policy(str(small_model), lora_rank=8, lora_targets=["q_proj", "v_proj", "o_proj"])
    rows = run_sft(
        policy, SFTConfig(data=str(sft), steps=12, batch_size=4, learning_rate=2e-3), metrics_path=tmp_path / "m.jsonl"
    )
    losses = [r["sft_loss"] for r in rows]
    assert len(losses) == 12 and len((tmp_path / "m.jsonl").read_text().splitlines()) == 12
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3, losses
