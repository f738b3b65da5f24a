"""The judge through a real vLLM server on 127.0.0.1 (SmolLM2-135M on the CPU), and through a real faulty proxy.

One server serves the module (it takes a minute to start on two cores); only the kill/restart
test restarts it. Items are short competitions, so that each judge call takes seconds. The proxy
is a real HTTP server in front of the server that injects faults on a fixed schedule (every k-th
request), so a run is reproducible: 500s, requests that hang past the client's timeout, bodies
cut in half (invalid JSON), and verdicts cut in half inside a valid response. None of them may
cost more than retries.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import typer
from judge_cases import FAST, QUESTION, SHORT
from typer.testing import CliRunner

from judgecraft.judge.cache import GenerationCache
from judgecraft.judge.commands import assemble_command, judge_app, select_command
from judgecraft.judge.core import make_judge
from judgecraft.judge.prompts import JudgeItem
from judgecraft.judge.server import JudgeServer
from judgecraft.judge.verdict import JudgeError, JudgeSetupError, Verdict

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def server(small_model, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "vllm.log"
    srv = JudgeServer(small_model, "smol", dtype="float32", max_model_len=2048, log=log, extra_args=["--enforce-eager"])
    try:
        srv.start(timeout=600)
        yield srv
    finally:
        srv.stop()


def _items(completion: str, n: int) -> list[JudgeItem]:
    """n distinct items (distinct questions, so each is its own cache entry)."""
    from judgecraft import load_construct
    from judgecraft.judge.prompts import item_from_completion

    c = load_construct("pkv")
    return [item_from_completion(f"{QUESTION} (case {i})", completion, c, gold="24", id=i) for i in range(n)]


class FaultProxy:
    """A real HTTP proxy that injects faults into POSTs on a fixed schedule: fault f on every plan[f]-th request."""

    ORDER = ("500", "cut_body", "cut_content", "hang")

    def __init__(self, upstream: str, plan: dict[str, int], hang: float = 20.0):
        self.upstream, self.plan, self.hang = upstream.rstrip("/"), plan, hang
        self.count = 0
        self.injected: Counter[str] = Counter()
        self.inflight = self.max_inflight = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: bytes) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def _hang(self) -> None:
                """Answer nothing until the client hangs up (its timeout) or `hang` seconds pass."""
                end = time.monotonic() + proxy.hang
                while time.monotonic() < end:
                    readable, _, _ = select.select([self.connection], [], [], 0.1)
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        break
                self.close_connection = True

            def do_GET(self):
                try:
                    resp = httpx.get(proxy.upstream + self.path, timeout=30)
                    self._send(resp.status_code, resp.content)
                except httpx.HTTPError as err:
                    self._send(502, json.dumps({"error": str(err)}).encode())

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy._lock:
                    proxy.count += 1
                    n = proxy.count
                    proxy.inflight += 1
                    proxy.max_inflight = max(proxy.max_inflight, proxy.inflight)
                    fault = next((f for f in proxy.ORDER if f in proxy.plan and n % proxy.plan[f] == 0), None)
                    if fault:
                        proxy.injected[fault] += 1
                try:
                    if fault == "500":
                        return self._send(500, b'{"error": "injected"}')
                    if fault == "hang":
                        return self._hang()
                    try:
                        resp = httpx.post(proxy.upstream + self.path, content=body, timeout=300,
                                          headers={"Content-Type": "application/json"})  # fmt: skip
                    except httpx.HTTPError as err:  # the server is down: what a real proxy answers
                        return self._send(502, json.dumps({"error": str(err)}).encode())
                    content = resp.content
                    if fault == "cut_body":
                        content = content[: len(content) // 2]
                    elif fault == "cut_content" and resp.status_code == 200:
                        data = resp.json()
                        text = data["choices"][0]["message"]["content"]
                        data["choices"][0]["message"]["content"] = text[: len(text) // 2]
                        content = json.dumps(data).encode()
                    self._send(resp.status_code, content)
                finally:
                    with proxy._lock:
                        proxy.inflight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_faults_cost_only_retries(server, tmp_path):
    """Decided by the proxy's counts: each 500 and each cut body costs one more HTTP call, each cut verdict
    one malformed retry. Hangs (client timeouts) are in test_judge_faults.py, where a timeout cannot hit a
    slow but healthy answer on a loaded machine."""
    plan = {"500": 2, "cut_body": 3, "cut_content": 5}
    with FaultProxy(f"http://{server.host}:{server.port}", plan) as proxy:
        judge = make_judge(
            f"{proxy.url}#smol", "pkv", cache=tmp_path / "c.sqlite", shuffles=1, **FAST,
            backend_options={"concurrency": 2, "timeout": 600.0, "retries": 10},
        )  # fmt: skip
        verdicts = judge.judge_many(_items(SHORT, 3))
    assert all(isinstance(v, Verdict) for v in verdicts), verdicts
    assert set(proxy.injected) == set(plan), proxy.injected  # every kind of fault happened
    assert judge.backend.attempts == proxy.count
    assert judge.backend.retried == proxy.injected["500"] + proxy.injected["cut_body"]
    assert judge.stats["malformed"] == proxy.injected["cut_content"] == judge.stats["malformed_retries"]
    assert len(GenerationCache(tmp_path / "c.sqlite")) == 3  # only good verdicts are stored


def test_a_request_the_server_refuses_is_not_retried(server, tmp_path):
    judge = make_judge(server.spec, "pkv", cache=False, shuffles=1, max_chars_per_candidate=0, **FAST)
    huge = JudgeItem(QUESTION, {"pirate": "arr " * 3000, "knight": "hark " * 3000, "viking": "skal " * 3000})
    results = judge.judge_many([huge, *_items(SHORT, 1)])
    assert isinstance(results[0], JudgeError) and results[0].kind == "too_long" and results[0].attempts == 1
    assert isinstance(results[1], Verdict)
    with pytest.raises(JudgeSetupError, match="does not serve 'nope'"):
        make_judge(f"{server.url}#nope", cache=False).judge_many(_items(SHORT, 1))


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(judge_app, name="judge")
    app.command("select")(select_command)
    app.command("assemble")(assemble_command)
    return app


def test_the_commands_judge_select_and_assemble_dumps(server, tmp_path):
    runner, app = CliRunner(), _cli()
    spec, cache = server.spec, str(tmp_path / "c.sqlite")
    dump = tmp_path / "dump.jsonl"
    rows = [{"id": i, "prompt": f"{QUESTION} ({i})", "completion": SHORT, "answer": "24"} for i in range(3)]
    dump.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n" + json.dumps({"id": 9}) + "\n")
    out = tmp_path / "judged.jsonl"
    common = ["--judge", spec, "--cache", cache, "--max-tokens", "200", "--rationale-max-chars", "60"]
    res = runner.invoke(app, ["judge", str(dump), "-o", str(out), "--shuffles", "1", *common])
    assert res.exit_code == 0, res.output
    judged = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(judged) == 5 and [r["error"] is None for r in judged] == [True, True, True, False, False]
    assert all(0.0 <= r["judge_quality"] <= 1.0 and r["judge"]["winner"] in ("pirate", "knight", "viking", None)
               for r in judged[:3])  # fmt: skip
    summary = " ".join(res.output.split())
    assert "3/5 rows judged" in summary and "3 backend calls" in summary
    judged_verdicts = [r["judge"] for r in judged[:3]]
    for v in judged_verdicts:
        assert v["candidates"] == ["pirate", "knight", "viking"] and v["weighted"]
        assert v["model"].startswith("http:smol")
    res = runner.invoke(app, ["judge", str(dump), "-o", str(out), "--shuffles", "1", *common])
    assert res.exit_code == 0, res.output
    assert "0 backend calls, 3 cache hits" in " ".join(res.output.split())  # a rerun costs nothing
    rerun = [json.loads(line)["judge"] for line in out.read_text().splitlines()]
    assert all(s["cached"] for v in rerun[:3] for s in v["shuffles"])
    assert [(v["scores"], v["winner"]) for v in rerun[:3]] == [(v["scores"], v["winner"]) for v in judged_verdicts]

    bias, two = tmp_path / "bias.json", tmp_path / "two.jsonl"
    two.write_text("\n".join(dump.read_text().splitlines()[:2]) + "\n")
    res = runner.invoke(app, ["judge", "--bias-report", str(two), "--bias-json", str(bias), *common])
    assert res.exit_code == 0, res.output
    report = json.loads(bias.read_text())
    assert report["items"] == 2 and report["shuffles"] == 3
    assert report["unshuffled"]["verdicts"] == 2
    assert report["shuffled"]["verdicts"] == 6 and abs(sum(report["shuffled"]["original"]) - 100) < 0.1
    for mode in ("unshuffled", "shuffled"):  # the deviation is the one the shares give
        shares = report[mode]["shown"]
        assert report[mode]["shown_deviation"] == pytest.approx(max(abs(x - 100 / 3) for x in shares), abs=0.01)
    assert report["judge_verifier"]["rows"] == 2  # both rows have a gold answer the checker can read

    gens = tmp_path / "gens.jsonl"
    wrong = SHORT.replace("The answer is 24", "The answer is 25")
    gens.write_text("\n".join(json.dumps({"prompt": QUESTION, "completion": c, "answer": "24"})
                              for c in (SHORT, wrong, SHORT.replace("Arr,", "Arrr,"))))  # fmt: skip
    sft, meta = tmp_path / "sft.jsonl", tmp_path / "meta.jsonl"
    res = runner.invoke(app, ["select", str(gens), "-o", str(sft), "--meta-out", str(meta), "--shuffles", "1", *common])
    assert res.exit_code == 0, res.output
    record = json.loads(sft.read_text())
    assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
    assert json.loads(meta.read_text().splitlines()[0])["passed"] == [0, 2]

    trajs = tmp_path / "trajs.jsonl"
    trajs.write_text(json.dumps({"question": QUESTION, "answer": "24", "trajectories": [
        {"source": "a", "text": "96 / 12 = 8 and 8 * 3 = 24. The answer is 24."},
        {"source": "b", "text": "One hive makes 4 candles, so 96 / 4 = 24."}]}) + "\n")  # fmt: skip
    judge_set = tmp_path / "judge-sft.jsonl"
    res = runner.invoke(app, ["assemble", str(trajs), "-o", str(judge_set), "--shuffles", "2", *common])
    assert res.exit_code == 0, res.output
    examples = [json.loads(line) for line in judge_set.read_text().splitlines()]
    assert 1 <= len(examples) <= 2  # both trajectories are right, so any consistent pick is kept
    assert json.loads(examples[0]["messages"][-1]["content"])["winner"] in ("A", "B")


def test_a_server_killed_mid_run_and_restarted_loses_no_row(server, tmp_path):
    """Through a fault-free proxy, which also counts the requests in flight: the bound holds throughout."""
    path = tmp_path / "c.sqlite"
    with FaultProxy(f"http://{server.host}:{server.port}", {}) as proxy:
        judge = make_judge(
            f"{proxy.url}#smol", "pkv", cache=path, shuffles=1, **FAST,
            backend_options={"concurrency": 2, "timeout": 600.0, "retries": 100},
        )  # fmt: skip
        items = _items(SHORT, 4)
        box: dict = {}
        runner = threading.Thread(target=lambda: box.setdefault("out", judge.judge_many(items)))
        runner.start()
        cache = GenerationCache(path)
        deadline = time.monotonic() + 300
        while len(cache) < 1 and time.monotonic() < deadline:  # some rows done, others in flight
            time.sleep(0.1)
        assert 1 <= len(cache) < 4
        server.kill()
        server.start(timeout=600)
        runner.join(600)
        assert not runner.is_alive()
    out = box["out"]
    assert len(out) == 4 and all(isinstance(v, Verdict) for v in out), out
    assert judge.backend.retried > 0  # the outage cost retries, not rows
    assert len(cache) == 4
    assert proxy.max_inflight == 2  # concurrency was used, and bounded
