"""The HTTP backend: any OpenAI-compatible server (vLLM's own, started by `judgecraft judge serve` or by you).

Requests go through the `openai` async client, at most `concurrency` at a time, with the verdict
schema as `response_format` (json_schema, strict), so vLLM constrains decoding to it. The client
retries what a server under load or a restarting server does (timeouts, connection errors, 408,
409, 429, 5xx) with exponential backoff and honours `Retry-After`. What it lacks is kept here: a
200 whose body is cut off or unreadable is asked again too, every attempt is counted (httpx event
hook), a deadline bounds the batch, and a request the server refuses (a prompt too long) is
reported for its own row. A new client is opened per batch, so the backend works from any event
loop (TRL runs async rewards on a loop of its own).

The model's identity for the cache is the served name and the `root` the server reports for it
(the folder vLLM loaded), read from /v1/models before the first request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from judgecraft.judge.backend import BackendError, Generation, OnResult, Request, run_sync
from judgecraft.judge.verdict import JudgeSetupError


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
        unreadable_retries: int = 3,
        api_key: str | None = None,
        extra_body: dict[str, Any] | None = None,
    ):
        self.base_url, spec_model = split_spec(base_url)
        self.model = model or spec_model
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.unreadable_retries = unreadable_retries
        self.api_key = api_key or "EMPTY"
        self.extra_body = dict(extra_body or {})
        self.requests = 0  # requests submitted (a cached rerun submits none)
        self.attempts = 0  # HTTP calls made, retries included
        self._root: str | None = None
        self._checked = False

    @property
    def retried(self) -> int:
        """HTTP calls beyond the first per request: what faults cost."""
        return max(0, self.attempts - self.requests)

    @property
    def model_id(self) -> str:
        """The served model's name and, where the server says, the folder it was loaded from."""
        return f"http:{self.model}" + (f"@{self._root}" if self._root else "")

    def identity(self) -> str:
        """The model (name and root, else the server's URL and the name) and the extra body sent with it."""
        if not self._checked:
            self.check()
        who = self.model_id if self._root else f"http:{self.base_url}#{self.model}"
        extra = hashlib.sha256(json.dumps(self.extra_body, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return f"{who}|extra_body={extra}"

    def _client(self, **kw: Any) -> Any:
        import httpx2
        from openai import AsyncOpenAI

        async def count(request: Any) -> None:
            if request.method == "POST":
                self.attempts += 1

        limits = httpx2.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        http = httpx2.AsyncClient(limits=limits, timeout=self.timeout, event_hooks={"request": [count]})
        return AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, timeout=self.timeout, http_client=http, **kw)

    def check(self, attempts: int = 3) -> None:
        """Ask /models that a server answers and serves the model; raise JudgeSetupError otherwise."""
        served = run_sync(lambda: self._models(attempts))
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

    async def _models(self, attempts: int) -> list[Any]:
        import openai

        client = self._client(max_retries=max(0, attempts - 1))
        try:
            page = await client.models.list()
            return [m.model_dump() for m in page.data]
        except (openai.APIError, ValueError, TypeError) as err:
            raise JudgeSetupError(
                f"no OpenAI-compatible server answers at {self.base_url} ({type(err).__name__}: {err}); "
                f"start one with `judgecraft judge serve --model DIR` or check the URL"
            ) from None
        finally:
            await client.close()

    def body(self, request: Request) -> dict[str, Any]:
        """The keyword arguments of one chat completion (what the benchmark sends to vLLM alone, too)."""
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
        return body

    async def _one(self, client: Any, gate: asyncio.Semaphore, request: Request) -> Generation | BackendError:
        import openai

        body = self.body(request)
        problem = "no attempt made"
        for attempt in range(self.unreadable_retries + 1):
            try:
                async with gate:
                    resp = await client.chat.completions.create(**body, extra_body=self.extra_body or None)
                return _generation(resp)
            except openai.APIStatusError as err:  # what the client does not retry: the request itself is wrong
                text = str(err.message)
                kind = "too_long" if "context" in text.lower() and "length" in text.lower() else "backend"
                if err.status_code >= 500 or err.status_code in (408, 409, 429):
                    return BackendError(
                        f"gave up after {self.retries + 1} attempts: HTTP {err.status_code}: {text[:200]}"
                    )
                return BackendError(f"HTTP {err.status_code}: {text[:300]}", kind, attempt + 1)
            except (openai.APITimeoutError, openai.APIConnectionError) as err:
                return BackendError(f"gave up after {self.retries + 1} attempts: {type(err).__name__}: {err}")
            except Exception as err:  # a cut or odd body on a 200: the client does not retry it, we do
                problem = f"unreadable response ({type(err).__name__}: {str(err)[:160]})"
        return BackendError(f"gave up after {self.unreadable_retries + 1} unreadable responses: {problem}")

    async def agenerate(
        self, requests: Sequence[Request], on_result: OnResult | None = None, deadline: float | None = None
    ) -> list[Generation | BackendError]:
        if not self._checked:
            await asyncio.to_thread(self.check)
        self.requests += len(requests)
        gate = asyncio.Semaphore(self.concurrency)
        results: list[Generation | BackendError | None] = [None] * len(requests)
        client = self._client(max_retries=self.retries)

        def report(i: int, result: Generation | BackendError) -> None:
            results[i] = result
            if on_result:
                on_result(i, result)

        async def run(i: int) -> None:
            try:
                result = await self._one(client, gate, requests[i])
            except Exception as err:  # nothing escapes a task unretrieved: the row gets the reason
                result = BackendError(f"{type(err).__name__}: {err}")
            report(i, result)

        try:
            tasks = [asyncio.create_task(run(i)) for i in range(len(requests))]
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=None if deadline is None else max(0.0, deadline))
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        finally:
            await client.close()
        for i, result in enumerate(results):
            if result is None:
                report(i, BackendError(f"no answer within the deadline of {deadline:g}s", "timeout", 0))
        return results  # type: ignore[return-value]

    def generate(
        self, requests: Sequence[Request], on_result: OnResult | None = None
    ) -> list[Generation | BackendError]:
        return run_sync(lambda: self.agenerate(requests, on_result))

    def close(self) -> None:
        pass


def _generation(resp: Any) -> Generation:
    """The first choice of a chat completion as a Generation (tokens as [text, logprob, {alternative: logprob}])."""
    choice = resp.choices[0]
    text = choice.message.content
    if not isinstance(text, str):
        raise TypeError("message content is not text")
    tokens = None
    content = getattr(choice.logprobs, "content", None) if choice.logprobs is not None else None
    if content:
        tokens = [[t.token, t.logprob, {a.token: a.logprob for a in (t.top_logprobs or [])}] for t in content]
    usage = resp.usage
    return Generation(
        text=text,
        finish_reason=choice.finish_reason,
        tokens=tokens,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
    )
