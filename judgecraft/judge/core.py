"""The `Judge`: items in, verdicts out, over any backend, cached, retried, never losing a row.

For each item the judge renders one prompt per shuffle (see prompts.py), looks every prompt up in
the cache, sends the misses to the backend in one batch, parses each output against the schema
that prompt was built with, retries the outputs that did not parse, stores the good ones, and
folds each item's shuffles into one Verdict (a vote, with scores averaged and mapped back from
the labels shown to the candidates' names). A row that cannot be judged comes back as a
JudgeError in its place, with the reason; the list always has one entry per item, in order.
"""

from __future__ import annotations

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
from judgecraft.judge.logprobs import compact, weighted
from judgecraft.judge.prompts import JudgeItem, item_from_completion, render, shuffle_orders
from judgecraft.judge.schema import parse_verdict, verdict_schema
from judgecraft.judge.verdict import JudgeError, ShuffleVerdict, Verdict

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
    parsed: dict[str, Any] | None = None
    generation: Generation | None = None
    cached: bool = False
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
        """One Verdict or JudgeError per item, in order. `deadline`: seconds, after which unanswered rows are errors."""
        items = list(items)
        started = time.monotonic()
        results: list[Result | None] = [None] * len(items)
        calls: list[_Call] = []
        for index, item in enumerate(items):
            if not isinstance(item, JudgeItem):
                results[index] = JudgeError(f"not a JudgeItem: {type(item).__name__}", "input")
            elif item.empty:
                results[index] = JudgeError("nothing to judge: every candidate is empty", "input", key=_id(item))
            else:
                try:
                    calls.extend(self._calls(index, item, self.config.shuffles if shuffles is None else shuffles))
                except ValueError as err:
                    results[index] = JudgeError(str(err), "input", key=_id(item))
        outcomes: list[_Outcome] = [_Outcome() for _ in calls]
        with _progress(self.progress if progress is None else progress, len(calls)) as advance:
            pending = self._from_cache(calls, outcomes, advance)
            for round_ in range(self.malformed_retries + 1):
                if not pending:
                    break
                remaining = None if deadline is None else deadline - (time.monotonic() - started)
                pending = await self._generate(calls, outcomes, pending, round_, remaining, advance)
        by_item: dict[int, list[tuple[_Call, _Outcome]]] = {}
        for call, outcome in zip(calls, outcomes, strict=True):
            by_item.setdefault(call.item, []).append((call, outcome))
        for index, pairs in by_item.items():
            results[index] = self._aggregate(items[index], pairs)
        return results  # type: ignore[return-value]

    def _calls(self, index: int, item: JudgeItem, shuffles: int) -> list[_Call]:
        c = self.config
        sampling = Sampling(
            max_tokens=c.max_tokens,
            temperature=self.temperature,
            seed=self.seed,
            top_logprobs=c.top_logprobs if c.weighting == "logprobs" else 0,
        )
        calls = []
        for order in shuffle_orders(item.names, shuffles, self.seed, item.content_key):
            messages, labels = render(item, order, c)
            schema = verdict_schema(labels, c.criterion_names, c.scale, c.rationale_max_chars)
            key = cache_key(self.backend.model_id, messages, schema, sampling.to_dict())
            calls.append(_Call(index, order, labels, Request(messages, schema, sampling), key))
        return calls

    def _from_cache(self, calls: list[_Call], outcomes: list[_Outcome], advance: Any) -> list[int]:
        if self.cache is None:
            return list(range(len(calls)))
        found = self.cache.get_many(c.key for c in calls)
        pending = []
        for i, call in enumerate(calls):
            stored = found.get(call.key)
            if stored is not None:
                gen = Generation.from_dict(stored)
                try:
                    outcomes[i] = _Outcome(parse_verdict(gen.text, call.request.schema), gen, cached=True)
                    self.stats["cache_hits"] += 1
                    advance()
                    continue
                except JudgeError:
                    pass  # a stale entry that no longer parses: ask again
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
            call, outcome = calls[i], outcomes[i]
            outcome.attempts += getattr(result, "attempts", 1)
            if isinstance(result, BackendError):
                outcome.error = JudgeError(result.message, result.kind, outcome.attempts, call.key)
                advance()
                return
            try:
                parsed = parse_verdict(result.text, call.request.schema)
            except JudgeError as err:
                self.stats["malformed"] += 1
                cut = result.finish_reason == "length"
                hint = " (cut at max_tokens: raise max_tokens or lower rationale_max_chars)" if cut else ""
                outcome.error = JudgeError(f"{err.message}{hint}", "malformed", outcome.attempts, call.key)
                if last_round or (cut and self.temperature == 0):  # greedy would write the same again
                    advance()
                else:
                    retry.append(i)
                return
            result.tokens = compact(result.tokens, call.labels, self.config.criterion_names)
            outcomes[i] = _Outcome(parsed, result, attempts=outcome.attempts)
            if self.cache is not None:
                self.cache.put(call.key, self.backend.model_id, result.to_dict())
            advance()

        self.stats["backend_calls"] += len(pending)
        if round_:
            self.stats["malformed_retries"] += len(pending)
        if remaining is not None and remaining <= 0:
            for i in pending:
                outcomes[i].error = JudgeError("no answer within the deadline", "timeout", outcomes[i].attempts)
                advance()
            return []
        await self.backend.agenerate([calls[i].request for i in pending], on_result, remaining)
        return sorted(retry)

    # ---- folding shuffles into a verdict --------------------------------------------------------------------------

    def _shuffle(self, call: _Call, outcome: _Outcome) -> ShuffleVerdict:
        parsed, gen = outcome.parsed, outcome.generation
        assert parsed is not None and gen is not None
        name_of = dict(zip(call.labels, call.order, strict=True))
        criteria = self.config.criterion_names
        written = {name_of[lab]: {c: int(parsed["scores"][lab][c]) for c in criteria} for lab in call.labels}
        grades, picks = ({}, None)
        if self.config.weighting == "logprobs":
            grades, picks = weighted(gen.tokens, call.labels, criteria, self.config.scale)
        scores = {
            name_of[lab]: {c: float(grades.get(lab, {}).get(c, written[name_of[lab]][c])) for c in criteria}
            for lab in call.labels
        }
        winner_label = parsed.get("winner")
        return ShuffleVerdict(
            order=list(call.order),
            labels=list(call.labels),
            winner=name_of.get(winner_label) if winner_label else None,
            position=call.labels.index(winner_label) if winner_label in call.labels else None,
            scores=scores,
            written=written,
            winner_probs={name_of[lab]: picks.get(lab, 0.0) for lab in call.labels} if picks else None,
            rationale=str(parsed.get("rationale", "")),
            cached=outcome.cached,
            weighted=bool(grades),
        )

    def _aggregate(self, item: JudgeItem, pairs: list[tuple[_Call, _Outcome]]) -> Result:
        good = [(c, o) for c, o in pairs if o.parsed is not None]
        errors = [o.error for _, o in pairs if o.parsed is None and o.error is not None]
        if not good:
            first = errors[0] if errors else JudgeError("no verdict", "backend")
            attempts = sum(e.attempts for e in errors)
            return JudgeError(first.message, first.kind, attempts, _id(item))
        shuffles = [self._shuffle(c, o) for c, o in good]
        names = item.names
        low, high = self.config.scale
        span = float(high - low)
        criteria = self.config.criterion_names
        scores = {
            n: {c: round((sum(s.scores[n][c] for s in shuffles) / len(shuffles) - low) / span, 6) for c in criteria}
            for n in names
        }
        votes = {n: sum(s.winner == n for s in shuffles) for n in names}
        if len(names) > 1 and all(s.winner_probs for s in shuffles):
            probs = {n: sum(s.winner_probs[n] for s in shuffles) / len(shuffles) for n in names}  # type: ignore[index]
        else:
            probs = {n: votes[n] / len(shuffles) for n in names}
        winner = _pick(names, votes, probs, scores) if len(names) > 1 else None
        first = shuffles[0]
        legend = ", ".join(f"{lab}={n}" for lab, n in zip(first.labels, first.order, strict=True))
        return Verdict(
            candidates=names,
            winner=winner,
            scores=scores,
            votes=votes,
            winner_probs={n: round(p, 6) for n, p in probs.items()},
            rationale=f"[{legend}] {first.rationale}" if first.labels != first.order else first.rationale,
            shuffles=shuffles,
            weighted=all(s.weighted for s in shuffles),
            model=self.backend.model_id,
            errors=[e.message for e in errors],
            key=_id(item),
        )

    # ---- housekeeping ---------------------------------------------------------------------------------------------

    def close(self) -> None:
        self.backend.close()
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _pick(
    names: list[str], votes: dict[str, int], probs: dict[str, float], scores: dict[str, dict[str, float]]
) -> str | None:
    """Most votes; ties broken by pick probability, then by mean grade; a tie on all three is no winner."""

    def mean(n: str) -> float:
        return sum(scores[n].values()) / max(1, len(scores[n]))

    ranked = sorted(names, key=lambda n: (votes[n], round(probs[n], 9), round(mean(n), 9)), reverse=True)
    best, second = ranked[0], ranked[1]
    key = (votes[best], round(probs[best], 9), round(mean(best), 9))
    return None if key == (votes[second], round(probs[second], 9), round(mean(second), 9)) else best


def _id(item: JudgeItem) -> str | None:
    return None if item.id is None else str(item.id)


class _progress:
    """A rich progress bar over judge calls (or a no-op), usable from the backend's worker thread."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total, self._bar = enabled and total > 0, total, None

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._bar = Progress("judging", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=False)
        self._bar.start()
        task = self._bar.add_task("judge", total=self.total)
        return lambda: self._bar.advance(task)  # type: ignore[union-attr]

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()


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
