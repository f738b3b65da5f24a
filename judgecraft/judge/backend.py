"""What every judge backend takes and returns: one interface for vLLM in-process and HTTP servers.

A backend turns chat requests constrained by a JSON schema into generations. It retries what is
worth retrying at its own level (a connection refused, a 503) and reports what is not as a
`BackendError` in the result list, in place: one failed row never fails a batch. Parsing the
verdict, caching, and retrying malformed verdicts happen above it, in `Judge`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Sampling:
    """Sampling settings; part of the cache key. Greedy by default, for reproducible verdicts."""

    max_tokens: int = 400
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    top_logprobs: int = 0  # 0: no logprobs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Request:
    messages: list[dict[str, str]]
    schema: dict[str, Any]
    sampling: Sampling = field(default_factory=Sampling)


@dataclass
class Generation:
    """One generated verdict text, with per-token logprobs when asked for (see judge.logprobs.Token)."""

    text: str
    finish_reason: str | None = None
    tokens: list[list[Any]] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Generation:
        return cls(**data)


class BackendError(Exception):
    """A request the backend gave up on. `kind` is as in JudgeError: backend | too_long | timeout."""

    def __init__(self, message: str, kind: str = "backend", attempts: int = 1):
        super().__init__(message)
        self.message, self.kind, self.attempts = message, kind, attempts


OnResult = Callable[[int, "Generation | BackendError"], None]


class Backend(Protocol):
    """The judge backend interface."""

    model_id: str  # the model, readable (shown in verdicts)
    requests: int  # requests submitted so far (tests assert a cached rerun submits none)

    def check(self) -> None:
        """Raise JudgeSetupError with a clear message when the backend cannot work at all."""

    def identity(self) -> str:
        """What the cache key holds for this backend: the model (weights, tokenizer, chat template, or the
        served name and the folder behind it) and every setting that changes outputs. Blocking; called
        before the first key is built, so it may ask a server (and raise JudgeSetupError)."""
        ...

    async def agenerate(
        self, requests: Sequence[Request], on_result: OnResult | None = None, deadline: float | None = None
    ) -> list[Generation | BackendError]:
        """Generate for every request, in order; call on_result(index, result) as each one finishes."""
        ...

    def close(self) -> None: ...


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, also when an event loop is already running (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())  # type: ignore[arg-type]
        except BaseException as err:
            box["error"] = err

    thread = threading.Thread(target=target, name="judgecraft-judge")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
