"""The judge in-process: real vLLM on the CPU with the small real model (SmolLM2-135M-Instruct).

A 135M model is a poor judge, and nothing here asks it to judge well: these tests check the
guarantees (schema-valid verdicts mapped back to the right personas, probability weighting read
from real logprobs, a cached rerun that submits nothing, one bad row never failing a batch) and
the plumbing of the reward and `assemble` (`select` runs through the CLI in test_judge_http.py).
One engine serves the whole module.
"""

from __future__ import annotations

import asyncio

import pytest
from judge_cases import FAST, QUESTION, SHORT

from judgecraft import Scorer, load_construct, parse
from judgecraft.judge.assemble import Trajectories, assemble
from judgecraft.judge.cache import GenerationCache
from judgecraft.judge.core import Judge
from judgecraft.judge.prompts import JudgeItem, render
from judgecraft.judge.reward import JudgeReward
from judgecraft.judge.schema import parse_verdict
from judgecraft.judge.verdict import JudgeError, Verdict

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def backend(small_model):
    from judgecraft.judge.backend_vllm import VLLMBackend

    b = VLLMBackend(small_model, dtype="float32", max_model_len=2048, enforce_eager=True)
    _ = b.llm
    yield b
    b.close()


def _judge(backend, tmp_path, construct="pkv", **kw):
    return Judge(backend, construct, cache=tmp_path / "judge.sqlite", **{**FAST, **kw})


def test_verdicts_follow_the_schema_map_back_and_a_cached_rerun_submits_nothing(backend, tmp_path, seed_example):
    judge = _judge(backend, tmp_path, shuffles=3)
    wrong = seed_example.replace("twenty-four hives", "thirty hives")
    items = [judge.item(QUESTION, seed_example, "24", id="seed"), judge.item(QUESTION, wrong, "24", id="wrong")]
    before = backend.requests
    verdicts = judge.judge_many(items)
    assert backend.requests - before == 6  # 2 items x 3 shuffles
    personas = ["pirate", "knight", "viking"]
    for item, v in zip(items, verdicts, strict=True):
        assert isinstance(v, Verdict), v
        assert v.candidates == personas and v.key == item.id
        assert v.winner in personas or v.winner is None
        assert sum(v.votes.values()) == 3 and sum(v.winner_probs.values()) == pytest.approx(1.0, abs=1e-3)
        assert all(0.0 <= x <= 1.0 for s in v.scores.values() for x in s.values())
        assert v.weighted  # the grades were read from real logprobs
        for position in range(3):  # rotations: every persona shown in every position once
            assert sorted(s.order[position] for s in v.shuffles) == sorted(personas)
        for s in v.shuffles:  # the label the model wrote names the persona whose text was under that label
            messages, labels = render(item, s.order, judge.config)
            shown = messages[-1]["content"].split(f"[Solution {labels[s.position]}]\n", 1)[1]
            assert shown.startswith(item.candidates[s.winner][:40])
            assert all(1.0 <= g <= 9.0 for grades in s.scores.values() for g in grades.values())
    cache = GenerationCache(tmp_path / "judge.sqlite")
    assert len(cache) == 6
    rows = cache._conn.execute("SELECT value FROM generations").fetchall()
    import json

    for (value,) in rows:  # every stored generation is a verdict that parses against its schema
        text = json.loads(value)["text"]
        labels = list(json.loads(text)["scores"])
        from judgecraft.judge.schema import verdict_schema

        parse_verdict(text, verdict_schema(labels, judge.config.criterion_names, (1, 9), 60))
    again = _judge(backend, tmp_path, shuffles=3)  # a new process would see the same: the cache is on disk
    before = backend.requests
    rerun = again.judge_many(items)
    assert backend.requests == before, "a cached rerun must not reach the model"
    assert again.stats["cache_hits"] == 6 and all(v.cached for v in rerun)
    assert [v.scores for v in rerun] == [v.scores for v in verdicts]
    assert [v.winner for v in rerun] == [v.winner for v in verdicts]
    bd = Scorer("pkv", weights={"judge_quality": 1.0, "judge_winner": 1.0}).score(seed_example, "24", verdict=rerun[0])
    assert 0.0 <= bd.values()["judge_quality"] <= 1.0 and bd.values()["judge_winner"] == rerun[0].winner_probs["pirate"]


def test_a_prompt_too_long_costs_only_its_own_row(backend, tmp_path):
    judge = _judge(backend, tmp_path, shuffles=1, max_chars_per_candidate=0)  # 0: never clip
    huge = JudgeItem(QUESTION, {"pirate": "arr " * 3000, "knight": "hark " * 3000, "viking": "skal " * 3000})
    results = judge.judge_many([huge, judge.item(QUESTION, SHORT)])
    assert isinstance(results[0], JudgeError) and results[0].kind == "too_long" and "2048" in results[0].message
    assert isinstance(results[1], Verdict)
    empty = judge.judge_many([judge.item(QUESTION, "no construct here at all")])[0]
    assert isinstance(empty, JudgeError) and empty.kind == "input"


def test_a_think_trace_is_graded_alone(backend, tmp_path):
    judge = _judge(backend, tmp_path, construct="think")
    trace = "<think>\n1. 96 / 12 = 8 batches.\n2. 8 x 3 = 24 hives. Let me verify: 24 / 3 * 12 = 96.\n</think>\n24"
    v = judge.judge_many([judge.item(QUESTION, trace, "24")])[0]
    assert isinstance(v, Verdict) and v.candidates == ["think"] and v.winner is None and len(v.shuffles) == 1
    judged = ["judge_quality", "judge_reflection", "judge_winner"]
    scorer = Scorer("think", components=judged, weights={"judge_quality": 1.0, "judge_reflection": 1.0})
    bd = scorer.score(trace, "24", verdict=v)
    assert bd.values()["judge_winner"] is None  # no winner tag in <think>
    assert bd.total == pytest.approx(bd.values()["judge_quality"] + bd.values()["judge_reflection"])


def test_the_async_reward_scores_conversational_batches(backend, tmp_path):
    judge = _judge(backend, tmp_path, shuffles=1)
    reward = JudgeReward(judge, "pkv", weights={"judge_quality": 1.0, "judge_winner": 1.0})
    prompts = [[{"role": "user", "content": QUESTION}]] * 2
    completions = [[{"role": "assistant", "content": SHORT}], [{"role": "assistant", "content": "no idea"}]]
    logged = {}
    rewards = asyncio.run(
        reward(prompts, completions, answer=["24", "24"], log_metric=lambda k, v: logged.__setitem__(k, v))
    )
    assert len(rewards) == 2 and 0.0 <= rewards[0] <= 2.0
    assert rewards[1] == 0.0  # nothing to judge: the floor, not a crash
    assert {"judge/judge_quality", "judge/judge_winner", "judge/failed"} <= set(logged)


def test_assemble_checks_the_pick_with_the_gold_answer_and_writes_constructs(backend, tmp_path):
    c = load_construct("pkv")
    judge = _judge(backend, tmp_path, shuffles=3)
    right = [("model-a", "96 / 12 = 8, and 8 * 3 = 24. The answer is 24."), ("model-b", "One hive makes 4 candles, "
             "so 96 / 4 = 24 hives. Answer: 24"), ("person", "Scale 3 hives by 8: 24.")]  # fmt: skip
    mixed = [right[0], ("model-c", "96 / 3 = 32. The answer is 32."), ("model-d", "I think 12.")]
    groups = [Trajectories(QUESTION, right, "24", "all-right"), Trajectories(QUESTION, mixed, "24", "mixed")]
    results = assemble(groups, c, judge, format="construct")
    assert results[1].correct == {"pirate": True, "knight": False, "viking": False}  # trajectories became personas
    assert results[1].kept == (results[1].winner == "pirate")
    if not results[1].kept:
        assert results[1].reason in ("the judge picked a wrong trajectory", "the judge's shuffles tied")
    built = results[0]
    assert built.kept and built.winner in c.personas and len(built.records) == 1  # every pick is right here
    text = built.records[0]["messages"][-1]["content"]
    assert built.records[0]["messages"][0]["content"] == c.system_prompt
    bd = Scorer(c, stage="round2").score(text, answer="24")
    assert bd.values()["structure"] == 1.0 and bd.values()["winner"] == 1.0 and bd.values()["correctness"] == 1.0
    assert parse(text, c).section_text("winner").strip() == built.winner
