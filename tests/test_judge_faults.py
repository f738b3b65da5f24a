"""The judge against real HTTP servers on 127.0.0.1 that misbehave on a fixed schedule (tests/judge_fake.py).

No vLLM here: the server writes verdicts for whatever schema it is sent, so the judge's own
machinery (openai client, retries, parsing, logprob weighting, cache identity, commands, resume)
runs for real in seconds. Every assertion is on counts kept by the server or the judge, never on
how long something took, so the tests hold with a CPU-bound neighbour.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from judge_fake import FakeJudgeServer
from typer.testing import CliRunner

from judgecraft.judge.backend import Generation
from judgecraft.judge.backend_vllm import VLLMBackend
from judgecraft.judge.cache import GenerationCache
from judgecraft.judge.core import Judge, make_judge
from judgecraft.judge.prompts import JudgeItem
from judgecraft.judge.verdict import JudgeError, Verdict

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "3 beehives make 12 candles. How many hives for 96 candles?"
PERSONAS = ("pirate", "knight", "viking")


def _items(n: int, tag: str = "") -> list[JudgeItem]:
    return [
        JudgeItem(f"{QUESTION} ({tag}{i})", {p: f"{p} says 24 ({i})" for p in PERSONAS}, "24", id=i) for i in range(n)
    ]


def _judge(spec: str, cache, **kw):
    options = {"concurrency": 2, "timeout": 30.0, "retries": 6, **kw.pop("backend_options", {})}
    return make_judge(spec, "pkv", cache=cache, shuffles=kw.pop("shuffles", 1), backend_options=options, **kw)


# ---- cache identity -------------------------------------------------------------------------------------------------


def test_two_models_served_under_one_name_never_share_verdicts(tmp_path):
    cache = tmp_path / "c.sqlite"
    with FakeJudgeServer("judge", root="/models/first") as a, FakeJudgeServer("judge", root="/models/second") as b:
        first = _judge(a.spec, cache).judge_many(_items(3))
        again = _judge(a.spec, cache)
        rerun = again.judge_many(_items(3))  # the same model: every verdict from the cache, on the first call
        other = _judge(b.spec, cache)
        second = other.judge_many(_items(3))
    assert all(isinstance(v, Verdict) for v in first + rerun + second)
    assert again.stats["cache_hits"] == 3 and again.backend.requests == 0 and a.posts == 3
    assert other.stats.get("cache_hits", 0) == 0 and b.posts == 3  # zero cross-model hits
    assert all("/models/second" in v.rationale for v in second) and all("/models/first" in v.rationale for v in rerun)
    assert len(GenerationCache(cache)) == 6


def test_extra_body_and_sampling_are_part_of_the_key(tmp_path):
    cache = tmp_path / "c.sqlite"
    with FakeJudgeServer() as srv:
        _judge(srv.spec, cache).judge_many(_items(2))
        extra = _judge(srv.spec, cache, backend_options={"extra_body": {"top_k": 5}})
        extra.judge_many(_items(2))
        hotter = _judge(srv.spec, cache, temperature=0.7)
        hotter.judge_many(_items(2))
    assert extra.stats.get("cache_hits", 0) == 0 and hotter.stats.get("cache_hits", 0) == 0 and srv.posts == 6


def test_a_changed_chat_template_or_tokenizer_is_a_new_model(small_model, tmp_path):
    copy = tmp_path / "model"
    copy.mkdir()
    for f in Path(small_model).iterdir():
        if f.is_file():
            (copy / f.name).symlink_to(f) if f.suffix in (".safetensors", ".bin") else shutil.copy(f, copy / f.name)
    before = VLLMBackend(copy).identity()
    assert VLLMBackend(copy).identity() == before  # stable
    config = json.loads((copy / "tokenizer_config.json").read_text())
    config["chat_template"] = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    changed = VLLMBackend(copy).identity()
    assert changed != before
    assert VLLMBackend(copy, compact_json=False).identity() != changed  # outputs differ: so does the key


# ---- faults cost retries, never rows --------------------------------------------------------------------------------


def test_500s_cut_bodies_cut_verdicts_and_odd_logprobs_cost_only_retries(tmp_path):
    plan = {"500": 3, "cut_body": 4, "cut_content": 5, "odd_logprobs": 2}
    with FakeJudgeServer(plan=plan) as srv:
        judge = _judge(srv.spec, tmp_path / "c.sqlite", shuffles=2)
        verdicts = judge.judge_many(_items(6))
    assert all(isinstance(v, Verdict) for v in verdicts), verdicts
    assert set(srv.injected) == set(plan)
    assert judge.backend.retried == srv.injected["500"] + srv.injected["cut_body"]  # by the server's counts
    assert judge.stats["malformed"] == srv.injected["cut_content"]
    assert judge.backend.attempts == srv.posts
    assert len(GenerationCache(tmp_path / "c.sqlite")) == 12  # 6 items x 2 shuffles, only good verdicts stored
    for v in verdicts:  # '²', '٣', '7.5' and -inf among the alternatives: read past, grades stay on the scale
        assert v.weighted and all(0.0 <= x <= 1.0 for s in v.scores.values() for x in s.values())


def test_a_request_that_hangs_is_retried_after_the_timeout(tmp_path):
    with FakeJudgeServer(plan={"hang": [2, 3]}, hang=60) as srv:
        judge = _judge(srv.spec, False, backend_options={"timeout": 3.0})
        verdicts = judge.judge_many(_items(3))
    assert all(isinstance(v, Verdict) for v in verdicts), verdicts
    assert srv.injected["hang"] == 2 and judge.backend.retried == 2


def test_a_refused_request_fails_its_own_row_at_once(tmp_path):
    with FakeJudgeServer(plan={"refuse": [1]}) as srv:
        judge = _judge(srv.spec, False, backend_options={"concurrency": 1})
        results = judge.judge_many(_items(3))
    kinds = [r.kind if isinstance(r, JudgeError) else "ok" for r in results]
    assert sorted(kinds) == ["ok", "ok", "too_long"] and srv.posts == 3  # not retried


def test_a_server_killed_mid_run_costs_rows_not_the_batch(tmp_path):
    srv = FakeJudgeServer()
    srv.hold_after, _ = 2, srv.gate.clear()
    with srv:
        judge = _judge(srv.spec, tmp_path / "c.sqlite", backend_options={"retries": 2, "timeout": 5.0})
        box: dict = {}
        runner = threading.Thread(target=lambda: box.setdefault("out", judge.judge_many(_items(5))))
        runner.start()
        deadline = time.monotonic() + 120
        while srv.posts < 4 and time.monotonic() < deadline:  # two answered, two held in flight
            time.sleep(0.05)
        srv.kill()
        runner.join(300)
    out = box["out"]
    assert len(out) == 5 and sum(isinstance(v, Verdict) for v in out) == 2
    assert all(isinstance(v, JudgeError) and v.kind == "backend" for v in out if not isinstance(v, Verdict))
    assert len(GenerationCache(tmp_path / "c.sqlite")) == 2


class ListBackend:
    """A real backend of fixed generations (what a broken server could return), for reading failures."""

    model_id = "list"

    def __init__(self, generations):
        self.generations, self.requests = generations, 0

    def identity(self) -> str:
        return "list"

    async def agenerate(self, requests, on_result=None, deadline=None):
        self.requests += len(requests)
        out = [self.generations[i % len(self.generations)] for i in range(len(requests))]
        for i, g in enumerate(out):
            on_result(i, g)
        return out

    def close(self) -> None:
        pass


def test_anything_odd_in_one_generation_becomes_that_rows_error_and_is_not_cached(tmp_path):
    grades = dict.fromkeys(("correctness", "thoroughness", "originality", "self_reflection"), 5)
    good = json.dumps({"rationale": "ok", "scores": dict.fromkeys("ABC", grades), "winner": "A"})
    broken_tokens = Generation(good, "stop", tokens=[["{", None], [None]])  # tokens too short to read
    weird = Generation(good, "stop", tokens=[[good, 0.0, {"²": 0.0, "٣": -1.0, 7: "x"}]])
    judge = Judge(ListBackend([Generation(good), broken_tokens, weird]), "pkv", cache=tmp_path / "c.sqlite", shuffles=1)
    out = judge.judge_many(_items(3))
    assert isinstance(out[0], Verdict) and isinstance(out[2], Verdict)
    assert isinstance(out[1], JudgeError) and out[1].kind == "malformed" and "could not read" in out[1].message
    assert len(GenerationCache(tmp_path / "c.sqlite")) == 2


# ---- large groups ---------------------------------------------------------------------------------------------------


def test_select_with_a_group_of_16_uses_the_judge(seed_example, tmp_path):
    from judgecraft.judge.config import DEFAULT_TEMPLATE
    from judgecraft.judge.select_sft import Group, select_winners

    completions = [seed_example.replace("Arr", "Arr" + "r" * i, 1) for i in range(16)]
    with FakeJudgeServer() as srv:
        judge = _judge(srv.spec, False, template=DEFAULT_TEMPLATE)
        (sel,) = select_winners([Group(QUESTION, completions, "24", "g")], "pkv", judge)
    assert len(sel.passed) == 16 and sel.picked_by == "judge", sel.reason
    assert sorted(sel.verdict["shuffles"][0]["labels"]) == [chr(ord("A") + i) for i in range(16)]


# ---- commands: Parquet in, resume after a kill ----------------------------------------------------------------------


def test_the_judge_command_reads_parquet_with_chat_messages_and_keeps_bad_rows(seed_example, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from judgecraft.judge.commands import judge_app

    rows = [{"id": f"r{i}", "prompt": QUESTION, "answer": "24",
             "completion": [{"role": "assistant", "content": seed_example}]} for i in range(3)]  # fmt: skip
    rows.append({"id": "bad", "prompt": QUESTION, "answer": "24", "completion": None})  # a row with no completion
    table = pa.Table.from_pylist(rows)
    dump = tmp_path / "d.parquet"
    pq.write_table(table, dump)
    out = tmp_path / "out.jsonl"
    with FakeJudgeServer() as srv:
        res = CliRunner().invoke(judge_app, ["run", str(dump), "-j", srv.spec, "-o", str(out), "--no-cache",
                                             "--shuffles", "1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    judged = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in judged] == ["r0", "r1", "r2", "bad"]
    assert [r["error"] is None for r in judged] == [True, True, True, False] and judged[3]["judge"] is None
    assert all(r["judge"]["candidates"] == list(PERSONAS) and r["answer_right"] is True for r in judged[:3])
    assert "Cohen's kappa" in " ".join(res.output.split())


@pytest.mark.slow
def test_a_killed_judge_run_resumes_where_its_checkpoint_says(seed_example, tmp_path):
    dump = tmp_path / "d.jsonl"
    dump.write_text("".join(json.dumps({"id": i, "prompt": f"{QUESTION} ({i})", "completion": seed_example,
                                        "answer": "24"}) + "\n" for i in range(6)))  # fmt: skip
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    srv = FakeJudgeServer()
    srv.hold_after, _ = 4, srv.gate.clear()
    with srv:
        cmd = [sys.executable, "-m", "judgecraft", "judge", str(dump), "-j", srv.spec, "-o", str(out), "--no-cache",
               "--shuffles", "1", "--batch-size", "2"]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        checkpoint = out.with_name(out.name + ".checkpoint")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (srv.posts >= 5 and _rows_read(checkpoint) == 4):
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)  # a crash with the third batch in flight
        proc.wait()
        assert _rows_read(checkpoint) == 4
        srv.hold_after, posts = None, srv.posts
        srv.gate.set()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == list(range(6)) and all(r["error"] is None for r in rows)
    assert srv.posts - posts == 2  # only the batch that was in flight was asked again
    assert "resumed at row 4" in " ".join(done.stderr.split())
    assert not checkpoint.exists()


def _rows_read(checkpoint: Path) -> int | None:
    try:
        return json.loads(checkpoint.read_text())["rows_read"]
    except (OSError, ValueError, KeyError):
        return None


# ---- the reward -----------------------------------------------------------------------------------------------------


def test_the_judge_reward_is_an_async_reward_that_never_raises(tmp_path):
    import asyncio

    from judgecraft.judge.reward import JudgeReward
    from judgecraft.rewards import AsyncReward

    with FakeJudgeServer(plan={"refuse": [1]}) as srv:
        options = {"cache": False, "shuffles": 1, "backend_options": {"concurrency": 1}}
        reward = JudgeReward(srv.spec, "pkv", weights={"judge_quality": 1.0}, judge_options=options)
        completions = [[{"role": "assistant", "content": f"<competition>\n<pirate>\n{i} arr\n</pirate>\n<knight>\nhark"
                         f"\n</knight>\n<viking>\nskal\n</viking>\n</competition>\n24"}] for i in range(3)]  # fmt: skip
        logged: dict = {}
        rewards = asyncio.run(reward([QUESTION] * 3, completions, answer=["24"] * 3,
                                     log_metric=lambda k, v: logged.__setitem__(k, v)))  # fmt: skip
    assert isinstance(reward, AsyncReward)
    assert sum(r is None for r in rewards) == 1 and all(0.0 <= r <= 1.0 for r in rewards if r is not None)
    assert logged["judge/failed"] == pytest.approx(1 / 3)
