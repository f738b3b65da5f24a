"""The HTTP backend: any OpenAI-compatible server (vLLM's own, started by `judgecraft judge serve` or by you).

Requests go out concurrently, at most `concurrency` at a time (a semaphore), with the verdict
schema as `response_format` (json_schema, strict), so vLLM constrains decoding to it. What a
server under load or a flaky network does is retried with exponential backoff: timeouts,
connection errors (the server restarting), 5xx, 408 and 429, and a 200 whose body is cut off.
A 4xx that says the request itself is wrong (a prompt too long, an unknown model) is not retried:
it is reported for its row at once. A new client is opened per batch, so the backend works from
any event loop (TRL runs async rewards on a loop of its own).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from typing import Any

from judgecraft.judge.backend import BackendError, Generation, OnResult, Request, run_sync
from judgecraft.judge.verdict import JudgeSetupError

RETRY_STATUS = {408, 429, 500, 502, 503, 504}


def split_spec(spec: str) -> tuple[str, str | None]:
    """`http://host:port/v1#model-name` -> (base URL, model name or None)."""
    base, _, name = spec.partition("#")
    base = base.rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    return base, (name or None)


class HTTPBackend:
    """Judge through an OpenAI-compatible `/v1/chat/completions` endpoint."""

    kind = "http"

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        concurrency: int = 8,
        timeout: float = 300.0,
        retries: int = 8,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        api_key: str | None = None,
        extra_body: dict[str, Any] | None = None,
    ):
        self.base_url, spec_model = split_spec(base_url)
        self.model = model or spec_model
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.extra_body = dict(extra_body or {})
        self.requests = 0  # requests submitted (a cached rerun submits none)
        self.attempts = 0  # HTTP calls made, retries included
        self.retried = 0
        self._rng = random.Random(0)  # jitter; seeded so runs are reproducible
        self._root: str | None = None
        self._checked = False

    @property
    def model_id(self) -> str:
        """The served model's name and, where the server says, the folder it was loaded from."""
        return f"http:{self.model}" + (f"@{self._root}" if self._root else "")

    def check(self, attempts: int = 3) -> None:
        """Ask /models that a server answers and serves the model; raise JudgeSetupError otherwise."""
        import httpx

        last: Exception | None = None
        for attempt in range(attempts):
            try:
                resp = httpx.get(f"{self.base_url}/models", headers=self.headers, timeout=10)
                resp.raise_for_status()
                served = resp.json().get("data", [])
                break
            except (httpx.HTTPError, ValueError) as err:
                last = err
                time.sleep(0.5 * (attempt + 1))
        else:
            raise JudgeSetupError(
                f"no OpenAI-compatible server answers at {self.base_url} ({type(last).__name__}: {last}); "
                f"start one with `judgecraft judge serve --model DIR` or check the URL"
            )
        names = {m.get("id"): m for m in served if isinstance(m, dict)}
        if self.model is None:
            if len(names) != 1:
                raise JudgeSetupError(
                    f"{self.base_url} serves {sorted(names)}: name one as {self.base_url}#MODEL (the part after #)"
                )
            self.model = next(iter(names))
        if self.model not in names:
            raise JudgeSetupError(f"{self.base_url} does not serve {self.model!r}; it serves {sorted(names)}")
        root = names[self.model].get("root")
        self._root = root if isinstance(root, str) and root != self.model else None
        self._checked = True

    def body(self, request: Request) -> dict[str, Any]:
        s = request.sampling
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "seed": s.seed,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "verdict", "schema": request.schema, "strict": True},
            },
        }
        if s.top_logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = s.top_logprobs
        body.update(self.extra_body)
        return body

    def _delay(self, attempt: int) -> float:
        base = min(self.max_backoff, self.backoff * 2**attempt)
        return base * (0.75 + 0.5 * self._rng.random())

    async def _one(self, client: Any, gate: asyncio.Semaphore, request: Request) -> Generation | BackendError:
        import httpx

        body = self.body(request)
        problem = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
                await asyncio.sleep(self._delay(attempt - 1))
            async with gate:
                self.attempts += 1
                try:
                    resp = await client.post(f"{self.base_url}/chat/completions", json=body)
                except httpx.TimeoutException as err:
                    problem = f"timed out after {self.timeout:g}s ({type(err).__name__})"
                    continue
                except httpx.TransportError as err:
                    problem = f"connection failed ({type(err).__name__}: {err})"
                    continue
            if resp.status_code in RETRY_STATUS or resp.status_code >= 500:
                problem = f"HTTP {resp.status_code}: {resp.text[:200]}"
                continue
            if resp.status_code >= 400:
                kind = "too_long" if "context" in resp.text.lower() and "length" in resp.text.lower() else "backend"
                return BackendError(f"HTTP {resp.status_code}: {resp.text[:300]}", kind, attempt + 1)
            try:
                return _generation(resp.json())
            except (ValueError, KeyError, IndexError, TypeError) as err:
                problem = f"unreadable response body ({type(err).__name__}: {err}): {resp.text[:120]!r}"
                continue
        return BackendError(f"gave up after {self.retries + 1} attempts: {problem}", "backend", self.retries + 1)

    async def agenerate(
        self, requests: Sequence[Request], on_result: OnResult | None = None, deadline: float | None = None
    ) -> list[Generation | BackendError]:
        import httpx

        if not self._checked:
            await asyncio.to_thread(self.check)
        self.requests += len(requests)
        gate = asyncio.Semaphore(self.concurrency)
        results: list[Generation | BackendError | None] = [None] * len(requests)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout, headers=self.headers, limits=limits) as client:

            async def run(i: int) -> None:
                results[i] = await self._one(client, gate, requests[i])
                if on_result:
                    on_result(i, results[i])  # type: ignore[arg-type]

            tasks = [asyncio.create_task(run(i)) for i in range(len(requests))]
            if not tasks:
                return []
            _, pending = await asyncio.wait(tasks, timeout=None if deadline is None else max(0.0, deadline))
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        for i, result in enumerate(results):
            if result is None:
                results[i] = BackendError(f"no answer within the deadline of {deadline:g}s", "timeout", 0)
                if on_result:
                    on_result(i, results[i])  # type: ignore[arg-type]
        return results  # type: ignore[return-value]

    def generate(
        self, requests: Sequence[Request], on_result: OnResult | None = None
    ) -> list[Generation | BackendError]:
        return run_sync(lambda: self.agenerate(requests, on_result))

    def close(self) -> None:
        pass


def _generation(data: dict[str, Any]) -> Generation:
    choice = data["choices"][0]
    text = choice["message"]["content"]
    if not isinstance(text, str):
        raise TypeError("message content is not text")
    tokens = None
    content = (choice.get("logprobs") or {}).get("content")
    if content:
        tokens = [
            [t["token"], t.get("logprob"), {a["token"]: a["logprob"] for a in t.get("top_logprobs") or []}]
            for t in content
        ]
    usage = data.get("usage") or {}
    return Generation(
        text=text,
        finish_reason=choice.get("finish_reason"),
        tokens=tokens,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
    )
