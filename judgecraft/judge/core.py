"""The `Judge`: items in, verdicts out, over any backend, cached, retried, never losing a row.

For each item the judge renders one prompt per shuffle (see prompts.py), looks every prompt up in
the cache, sends the misses to the backend in one batch, reads each output as it arrives (parsed
against the schema that prompt was built with, labels mapped back, logprobs weighted), retries the
outputs that did not parse, stores the good ones, and folds each item's shuffles into one Verdict
(fold.py). Whatever goes wrong with one row (a backend error, an unparseable or odd output, even a
bug while reading it) comes back as a JudgeError in its place, with the reason: the list always
has one entry per item, in order, and nothing that could not be read is ever cached.

Cache keys hold the backend's identity (the model's weights, chat template and tokenizer, or the
served name and the folder the server loaded, plus every backend setting that changes outputs),
which is settled before the first key is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from judgecraft.construct import Construct, load_construct
from judgecraft.judge.backend import Backend, BackendError, Generation, Request, Sampling, run_sync
from judgecraft.judge.cache import GenerationCache, cache_key, default_cache_path
from judgecraft.judge.config import JudgeConfig
from judgecraft.judge.fold import fold, shuffle_verdict
from judgecraft.judge.logprobs import compact
from judgecraft.judge.progress import progress_bar
from judgecraft.judge.prompts import JudgeItem, item_from_completion, render, shuffle_orders
from judgecraft.judge.schema import parse_verdict, verdict_schema, verdict_token_budget
from judgecraft.judge.verdict import JudgeError, ShuffleVerdict, Verdict

log = logging.getLogger(__name__)
Result = Verdict | JudgeError


@dataclass
class _Call:
    """One judge call: an item shown in one order."""

    item: int
    order: list[str]
    labels: list[str]
    request: Request
    key: str


@dataclass
class _Outcome:
    shuffle: ShuffleVerdict | None = None
    error: JudgeError | None = None
    attempts: int = 0


class Judge:
    """Judge construct completions (or any candidates) with an LLM.

    Args:
        backend: a VLLMBackend, an HTTPBackend, or anything with their interface (see `make_judge`).
        construct: the construct whose `[judge]` table gives the prompt, labels and defaults.
        cache: True for the default SQLite file, a path, a GenerationCache, or False for none.
        shuffles: orders per item (0: original order only; n: n rotations of a seeded random order).
        labels: neutral labels shown instead of names ([] shows the names).
        weighting: "logprobs" (probability-weighted grades where the backend returns logprobs) or "argmax".
        malformed_retries: how often an output that does not parse against the schema is asked again.
        progress: show a rich progress bar over the judge calls.
        Other keyword arguments override the construct's [judge] settings (max_tokens, scale, ...).
    """

    def __init__(
        self,
        backend: Backend,
        construct: str | Construct = "pkv",
        *,
        cache: bool | str | Path | GenerationCache = True,
        shuffles: int | None = None,
        labels: Sequence[str] | None = None,
        weighting: str | None = None,
        temperature: float = 0.0,
        seed: int = 0,
        malformed_retries: int = 2,
        progress: bool = False,
        **config_overrides: Any,
    ):
        self.backend = backend
        self.construct = load_construct(construct)
        self.config = JudgeConfig.from_construct(
            self.construct, shuffles=shuffles, labels=labels, weighting=weighting, **config_overrides
        )
        if cache is True:
            cache = default_cache_path()
        self.cache: GenerationCache | None = (
            cache if isinstance(cache, GenerationCache) else GenerationCache(cache) if cache else None
        )
        self.temperature = temperature
        self.seed = seed
        self.malformed_retries = malformed_retries
        self.progress = progress
        self.stats: Counter[str] = Counter()

    # ---- building items -------------------------------------------------------------------------------------------

    def item(self, prompt: Any, completion: Any, answer: Any = None, id: Any = None) -> JudgeItem:
        """A JudgeItem for one construct completion (its personas, or its reasoning for <think>)."""
        return item_from_completion(prompt, completion, self.construct, gold=answer, id=id)

    def judge_completions(
        self, prompts: Sequence[Any], completions: Sequence[Any], answers: Sequence[Any] | None = None, **kw: Any
    ) -> list[Result]:
        answers = answers if answers is not None else [None] * len(completions)
        items = [self.item(p, c, a) for p, c, a in zip(prompts, completions, answers, strict=True)]
        return self.judge_many(items, **kw)

    # ---- judging --------------------------------------------------------------------------------------------------

    def judge_many(self, items: Iterable[JudgeItem], *, shuffles: int | None = None, **kw: Any) -> list[Result]:
        """One Verdict or JudgeError per item, in order (blocking)."""
        items = list(items)
        return run_sync(lambda: self.ajudge_many(items, shuffles=shuffles, **kw))

    def judge(self, item: JudgeItem, **kw: Any) -> Result:
        return self.judge_many([item], **kw)[0]

    async def ajudge_many(
        self,
        items: Iterable[JudgeItem],
        *,
        shuffles: int | None = None,
        deadline: float | None = None,
        progress: bool | None = None,
    ) -> list[Result]:
        """One Verdict or JudgeError per item, in order. `deadline`: seconds, after which unanswered rows are errors.

        Raises JudgeSetupError only when the backend cannot work at all (no server, no model folder).
        """
        items = list(items)
        started = time.monotonic()
        results: list[Result | None] = [None] * len(items)
        todo = []
        for index, item in enumerate(items):
            if not isinstance(item, JudgeItem):
                results[index] = JudgeError(f"not a JudgeItem: {type(item).__name__}", "input")
            elif item.empty:
                results[index] = JudgeError("nothing to judge: every candidate is empty", "input", key=_id(item))
            else:
                todo.append(index)
        identity = await asyncio.to_thread(_identity, self.backend) if todo else ""
        calls: list[_Call] = []
        for index in todo:
            try:
                calls.extend(
                    self._calls(index, items[index], self.config.shuffles if shuffles is None else shuffles, identity)
                )
            except Exception as err:  # a label or template problem: this row's error, not the batch's
                results[index] = JudgeError(f"cannot build the judge prompt: {err}", "input", key=_id(items[index]))
        outcomes = [_Outcome() for _ in calls]
        with progress_bar(self.progress if progress is None else progress, len(calls)) as advance:
            pending = self._from_cache(calls, outcomes, advance)
            for round_ in range(self.malformed_retries + 1):
                if not pending:
                    break
                remaining = None if deadline is None else deadline - (time.monotonic() - started)
                pending = await self._generate(calls, outcomes, pending, round_, remaining, advance)
        by_item: dict[int, list[_Outcome]] = {}
        for call, outcome in zip(calls, outcomes, strict=True):
            by_item.setdefault(call.item, []).append(outcome)
        for index, found in by_item.items():
            good = [o.shuffle for o in found if o.shuffle is not None]
            errors = [o.error or JudgeError("no verdict", "backend") for o in found if o.shuffle is None]
            results[index] = fold(items[index], good, errors, self.config, self.backend.model_id)  # type: ignore[arg-type]
        return results  # type: ignore[return-value]

    def _calls(self, index: int, item: JudgeItem, shuffles: int, identity: str) -> list[_Call]:
        c = self.config
        calls = []
        for order in shuffle_orders(item.names, shuffles, self.seed, item.content_key):
            messages, labels = render(item, order, c)
            schema = verdict_schema(labels, c.criterion_names, c.scale, c.rationale_max_chars)
            sampling = Sampling(
                max_tokens=max(c.max_tokens, verdict_token_budget(len(labels), len(c.criteria), c.rationale_max_chars)),
                temperature=self.temperature,
                seed=self.seed,
                top_logprobs=c.top_logprobs if c.weighting == "logprobs" else 0,
            )
            key = cache_key(identity, messages, schema, sampling.to_dict())
            calls.append(_Call(index, order, labels, Request(messages, schema, sampling), key))
        return calls

    def _read(self, call: _Call, gen: Generation, cached: bool) -> ShuffleVerdict:
        """A generation as a ShuffleVerdict; raises JudgeError("malformed") or whatever reading it hits."""
        parsed = parse_verdict(gen.text, call.request.schema)
        gen.tokens = compact(gen.tokens, call.labels, self.config.criterion_names, self.config.scale)
        return shuffle_verdict(call.order, call.labels, parsed, gen.tokens, self.config, cached)

    def _from_cache(self, calls: list[_Call], outcomes: list[_Outcome], advance: Any) -> list[int]:
        if self.cache is None:
            return list(range(len(calls)))
        try:
            found = self.cache.get_many(c.key for c in calls)
        except (sqlite3.Error, ValueError) as err:
            log.warning("judge cache unreadable, asking the model: %s", err)
            found = {}
        pending = []
        for i, call in enumerate(calls):
            stored = found.get(call.key)
            if stored is not None:
                try:
                    outcomes[i] = _Outcome(self._read(call, Generation.from_dict(stored), cached=True))
                    self.stats["cache_hits"] += 1
                    advance()
                    continue
                except Exception:  # a stale entry that no longer reads: ask again
                    pass
            pending.append(i)
        return pending

    async def _generate(
        self,
        calls: list[_Call],
        outcomes: list[_Outcome],
        pending: list[int],
        round_: int,
        remaining: float | None,
        advance: Any,
    ) -> list[int]:
        """Send `pending` calls to the backend; return those whose output was malformed (to ask again)."""
        retry: list[int] = []
        last_round = round_ >= self.malformed_retries

        def on_result(j: int, result: Generation | BackendError) -> None:
            i = pending[j]
            try:
                if self._accept(calls[i], outcomes[i], result, last_round):
                    retry.append(i)
            except Exception as err:  # never lose the row, whatever happened while reading it
                outcomes[i].error = JudgeError(f"could not read the verdict: {type(err).__name__}: {err}", "malformed",
                                               outcomes[i].attempts, calls[i].key)  # fmt: skip
            if i not in retry:
                _quietly(advance)

        self.stats["backend_calls"] += len(pending)
        if round_:
            self.stats["malformed_retries"] += len(pending)
        if remaining is not None and remaining <= 0:
            for i in pending:
                outcomes[i].error = JudgeError("no answer within the deadline", "timeout", outcomes[i].attempts)
                advance()
            return []
        try:
            await self.backend.agenerate([calls[i].request for i in pending], on_result, remaining)
        except Exception as err:  # the backend itself broke: every row still open gets the reason
            log.warning("judge backend failed: %s: %s", type(err).__name__, err)
            for i in pending:
                if outcomes[i].shuffle is None and outcomes[i].error is None:
                    outcomes[i].error = JudgeError(f"backend failed: {type(err).__name__}: {err}", "backend")
            return []
        return sorted(set(retry))

    def _accept(self, call: _Call, outcome: _Outcome, result: Generation | BackendError, last_round: bool) -> bool:
        """Record one backend result; True when it should be asked again (a malformed verdict)."""
        outcome.attempts += getattr(result, "attempts", 1)
        if isinstance(result, BackendError):
            outcome.error = JudgeError(result.message, result.kind, outcome.attempts, call.key)
            return False
        try:
            outcome.shuffle = self._read(call, result, cached=False)
        except JudgeError as err:
            self.stats["malformed"] += 1
            cut = result.finish_reason == "length"
            hint = " (cut at max_tokens: raise max_tokens or lower rationale_max_chars)" if cut else ""
            outcome.error = JudgeError(f"{err.message}{hint}", "malformed", outcome.attempts, call.key)
            return not (last_round or (cut and self.temperature == 0))  # greedy would write the same again
        outcome.error = None
        if self.cache is not None:
            try:
                self.cache.put(call.key, self.backend.model_id, result.to_dict())
            except (sqlite3.Error, TypeError, ValueError) as err:
                self.stats["cache_errors"] += 1
                log.warning("judge cache write failed: %s", err)
        return False

    # ---- housekeeping ---------------------------------------------------------------------------------------------

    def close(self) -> None:
        self.backend.close()
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _identity(backend: Any) -> str:
    """The backend's cache identity (a backend without `identity()` is keyed by its model_id)."""
    identity = getattr(backend, "identity", None)
    return identity() if callable(identity) else str(backend.model_id)


def _id(item: JudgeItem) -> str | None:
    return None if item.id is None else str(item.id)


def _quietly(advance: Any) -> None:
    with contextlib.suppress(Exception):  # a progress bar must never cost a row
        advance()


def make_judge(spec: str, construct: str | Construct = "pkv", **options: Any) -> Judge:
    """A Judge from a spec: `vllm:/path/to/model` (in-process) or `http://host:port/v1#model-name`.

    Backend settings go in the spec's query string (`vllm:/m?max_model_len=8192&dtype=float32`,
    `http://h:8000/v1?concurrency=16&timeout=60#judge`) or in `backend_options=`; every other
    keyword is a Judge option (cache, shuffles, labels, weighting, max_tokens, ...).
    """
    backend_options = dict(options.pop("backend_options", None) or {})
    spec = spec.strip()
    if spec.startswith("vllm:"):
        from judgecraft.judge.backend_vllm import VLLMBackend

        path, _, query = spec[len("vllm:") :].partition("?")
        backend_options = {**_query(query), **backend_options}
        backend: Any = VLLMBackend(path, **backend_options)
    elif spec.startswith(("http://", "https://")):
        from judgecraft.judge.backend_http import HTTPBackend

        parts = urlsplit(spec)
        base = f"{parts.scheme}://{parts.netloc}{parts.path}"
        backend_options = {**_query(parts.query), **backend_options}
        backend = HTTPBackend(base, parts.fragment or None, **backend_options)
    else:
        raise ValueError(f"judge spec {spec!r}: expected vllm:/path/to/model or http://host:port/v1#model-name")
    return Judge(backend, construct, **options)


def _query(query: str) -> dict[str, Any]:
    def value(text: str) -> Any:
        for cast in (int, float):
            try:
                return cast(text)
            except ValueError:
                pass
        return {"true": True, "false": False, "none": None}.get(text.lower(), text)

    return {k: value(v) for k, v in parse_qsl(query)}
