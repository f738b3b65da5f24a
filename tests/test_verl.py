"""verl's custom reward function: loaded and called the way verl's loader and NaiveRewardManager do it."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

import judgecraft.rewards
from judgecraft import Scorer
from judgecraft.strategies import example_completion

ROOT = Path(__file__).resolve().parent.parent


def load_like_verl(path: str, name: str, reward_kwargs: dict):
    """verl's get_custom_reward_fn: import the file as `custom_module`, then bind reward_kwargs to every call."""
    spec = importlib.util.spec_from_file_location("custom_module", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_module"] = module
    spec.loader.exec_module(module)
    raw_fn = getattr(module, name)

    def wrapped_fn(*args, **kwargs):
        return raw_fn(*args, **kwargs, **reward_kwargs)

    return wrapped_fn


def naive_reward_manager(compute_score, items):
    """The per-row loop of verl's NaiveRewardManager: the reward is score["score"], the rest goes to extra info."""
    rewards, reward_extra_info = [], defaultdict(list)
    for item in items:
        extra_info = dict(item.get("extra_info") or {})
        extra_info["num_turns"] = None
        score = compute_score(
            data_source=item["data_source"],
            solution_str=item["response"],
            ground_truth=item["reward_model"]["ground_truth"],
            extra_info=extra_info,
        )
        if isinstance(score, dict):
            reward = score["score"]
            for key, value in score.items():
                reward_extra_info[key].append(value)
        else:
            reward = score
        rewards.append(reward)
    return rewards, reward_extra_info


def rows(limit=40):
    out = []
    for name in ("handwritten.jsonl", "dump.jsonl"):
        path = ROOT / "examples" / name
        if path.exists():
            out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not out:
        out = [
            {"completion": example_completion("pkv", answer=str(i), seed=i).text, "answer": str(i)} for i in range(9)
        ]
    return out[:limit]


def verl_items(data):
    return [
        {
            "data_source": "judgecraft/pkv",
            "response": r["completion"],
            "reward_model": {"style": "rule", "ground_truth": r["answer"]},
            "extra_info": {"index": i, "prompt": r.get("prompt")},
        }
        for i, r in enumerate(data)
    ]


@pytest.mark.parametrize("stage", ["round1", "round3"])
def test_verl_path_gives_the_scorers_scores(stage):
    data = rows()
    fn = load_like_verl(judgecraft.rewards.__file__, "compute_score", {"construct": "pkv", "stage": stage})
    rewards, extra = naive_reward_manager(fn, verl_items(data))
    scorer = Scorer("pkv", stage=stage)
    expected = [scorer.score(r["completion"], answer=r["answer"], prompt=r.get("prompt")) for r in data]
    assert rewards == [bd.total for bd in expected]
    for name in scorer.components:
        got = extra[name]
        want = [bd.components[name].value for bd in expected]
        assert [None if math.isnan(v) else v for v in got] == want, name


def test_extra_info_is_rectangular_and_numeric():
    """verl turns every reward_extra_info list into a numpy array and averages it: same keys, numbers only."""
    data = rows()
    fn = load_like_verl(judgecraft.rewards.__file__, "compute_score", {})
    rewards, extra = naive_reward_manager(fn, verl_items(data))
    assert set(extra) >= {"score", "acc", "tags", "structure", "correctness", "judge_quality"}
    for key, values in extra.items():
        assert len(values) == len(data), key
        array = np.array(values)
        assert array.dtype == np.float64, key
        if key in judgecraft.rewards.VERDICT_COMPONENTS:  # no verdict in a rule-based reward: all NaN
            assert np.isnan(array).all(), key
        else:
            assert math.isfinite(float(np.nanmean(array))), key
    assert all(isinstance(r, float) and math.isfinite(r) for r in rewards)
    assert set(np.unique(np.array(extra["acc"]))) <= {0.0, 1.0}


def test_ground_truth_forms_and_prefill():
    text = example_completion("pkv", answer="24").text
    prefill = "<competition>\n<pirate>\n"
    score = judgecraft.rewards.compute_score
    assert score("x", text, "24")["acc"] == 1.0
    assert score("x", text, 24)["acc"] == 1.0
    assert score("x", text, ["24", "twenty-four"])["acc"] == 1.0
    assert score("x", text, np.array(["24"]))["acc"] == 1.0
    assert score("x", text, "#### 24")["acc"] == 1.0
    assert score("x", text, "25")["acc"] == 0.0
    missing = score("x", text, None)
    assert math.isnan(missing["acc"]) and math.isnan(missing["correctness"]) and missing["score"] == 2.0
    continuation = text[len(prefill) :]
    assert score("x", continuation, "24", {"prefill": prefill})["tags"] == 1.0
    chat = [{"role": "user", "content": "q"}, {"role": "assistant", "content": prefill}]
    assert score("x", continuation, "24", {"prompt": chat})["tags"] == 1.0
    assert score("x", continuation, "24")["tags"] < 1.0


def test_bad_input_never_raises():
    score = judgecraft.rewards.compute_score
    for solution in ("", "\ud800<competition>", "<pirate>" * 5000, None, 17):
        out = score("x", solution, "1", extra_info="not a dict")
        assert isinstance(out["score"], float) and math.isfinite(out["score"])
