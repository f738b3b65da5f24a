"""A real, tiny OpenAI-compatible HTTP server on 127.0.0.1 that writes verdicts for any verdict schema.

It stands in for a judge *model* only (the judge's client, retries, parsing, caching and commands
all run for real against it): it reads the schema from `response_format`, writes a verdict whose
grades depend on the model `root` it reports (so two models under one name write different
verdicts), and returns per-character logprobs with alternatives at the grade digits. Faults are
injected on a fixed schedule of request numbers, and every count is kept, so tests decide by
counts, never by timing: 500 (with Retry-After: 0), hang (no answer until the client gives up),
cut_body (half the JSON), cut_content (half the verdict in a valid body), odd_logprobs ('²', '٣',
non-numbers and -inf among the alternatives), refuse (a 400 about the context length).
"""

from __future__ import annotations

import contextlib
import json
import math
import select
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ODD = {"²": math.log(0.2), "٣": math.log(0.1), "x": math.log(0.05), "7.5": -1.0, "": -2.0, "3": -math.inf}


def fake_verdict(schema: dict[str, Any], root: str) -> str:
    props = schema["properties"]
    labels = props["scores"]["required"]
    criteria = props["scores"]["properties"][labels[0]]["required"]
    low, high = (props["scores"]["properties"][labels[0]]["properties"][criteria[0]][k] for k in ("minimum", "maximum"))
    base = sum(map(ord, root)) % (high - low + 1)
    grades = {
        lab: {c: low + (base + i + j) % (high - low + 1) for j, c in enumerate(criteria)}
        for i, lab in enumerate(labels)
    }
    verdict: dict[str, Any] = {"rationale": f"judged by {root}"[: props["rationale"]["maxLength"]], "scores": grades}
    if "winner" in props:
        verdict["winner"] = labels[base % len(labels)]
    return json.dumps(verdict, separators=(",", ":"))


def char_logprobs(text: str, odd: bool) -> list[dict[str, Any]]:
    out = []
    for ch in text:
        alts = [{"token": ch, "logprob": math.log(0.6)}]
        if ch.isdigit():
            other = str((int(ch) % 9) + 1)
            alts.append({"token": other, "logprob": math.log(0.3)})
            if odd:
                alts += [{"token": k, "logprob": v if math.isfinite(v) else -9999.0} for k, v in ODD.items()]
        out.append({"token": ch, "logprob": math.log(0.6), "top_logprobs": alts})
    return out


def completion(text: str, name: str, logprobs: bool, odd: bool) -> dict[str, Any]:
    """A chat completion in the OpenAI format, with per-character logprobs when asked for."""
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    if logprobs:
        choice["logprobs"] = {"content": char_logprobs(text, odd)}
    usage = {"prompt_tokens": 10, "completion_tokens": len(text), "total_tokens": 10 + len(text)}
    return {"id": "x", "object": "chat.completion", "created": 0, "model": name, "choices": [choice], "usage": usage}


class FakeJudgeServer:
    """`with FakeJudgeServer("judge", root="/models/a", plan={"500": 3}) as srv: srv.url ...`"""

    KINDS = ("refuse", "500", "hang", "cut_body", "cut_content", "odd_logprobs")

    def __init__(
        self, name: str = "judge", root: str = "/models/a", plan: dict[str, Any] | None = None, hang: float = 30.0
    ):
        self.name, self.root, self.plan, self.hang = name, root, dict(plan or {}), hang
        self.posts = 0
        self.injected: Counter[str] = Counter()
        self.answered = 0  # verdicts sent whole, with a 200
        self.inflight = self.max_inflight = 0
        self.gate = threading.Event()  # cleared: POSTs after `hold_after` wait for it
        self.gate.set()
        self.hold_after: int | None = None
        self.dead = False
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def spec(self) -> str:
        return f"{self.url}#{self.name}"

    def fault_for(self, n: int) -> str | None:
        for kind in self.KINDS:
            when = self.plan.get(kind)
            if when is None:
                continue
            if (isinstance(when, int) and n % when == 0) or (not isinstance(when, int) and n in when):
                return kind
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)

            def do_GET(self) -> None:
                model = {"id": srv.name, "object": "model", "created": 0, "owned_by": "test", "root": srv.root}
                self.send(200, json.dumps({"object": "list", "data": [model]}).encode())

            def wait_for_hangup(self) -> None:
                end = time.monotonic() + srv.hang
                while time.monotonic() < end:
                    readable, _, _ = select.select([self.connection], [], [], 0.1)
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        break
                self.close_connection = True

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with srv._lock:
                    srv.posts += 1
                    n = srv.posts
                    fault = srv.fault_for(n)
                    if fault:
                        srv.injected[fault] += 1
                    srv.inflight += 1
                    srv.max_inflight = max(srv.max_inflight, srv.inflight)
                try:
                    if srv.hold_after is not None and n > srv.hold_after:
                        srv.gate.wait()
                    if srv.dead:  # killed while this request waited: the connection just drops
                        self.close_connection = True
                        with contextlib.suppress(OSError):
                            self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self.answer(body, fault)
                finally:
                    with srv._lock:
                        srv.inflight -= 1

            def answer(self, body: dict[str, Any], fault: str | None) -> None:
                if fault == "refuse":
                    return self.send(400, b'{"error": {"message": "maximum context length is 2048 tokens"}}')
                if fault == "500":
                    return self.send(500, b'{"error": {"message": "injected"}}', {"Retry-After": "0"})
                if fault == "hang":
                    return self.wait_for_hangup()
                schema = body["response_format"]["json_schema"]["schema"]
                text = fake_verdict(schema, srv.root)
                if fault == "cut_content":
                    text = text[: len(text) // 2]
                data = completion(text, srv.name, bool(body.get("logprobs")), fault == "odd_logprobs")
                raw = json.dumps(data).encode()
                if fault == "cut_body":
                    raw = raw[: len(raw) // 2]
                self.send(200, raw)
                if fault is None or fault == "odd_logprobs":
                    with srv._lock:
                        srv.answered += 1

        return Handler

    def kill(self) -> None:
        """Stop answering at once, as a crashed server does: held requests get their connection dropped."""
        self.dead = True
        self.httpd.shutdown()
        self.httpd.server_close()
        self.gate.set()

    def __enter__(self) -> FakeJudgeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.gate.set()
        if not self.dead:
            self.httpd.shutdown()
            self.httpd.server_close()
