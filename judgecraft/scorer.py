"""Scorer: parse once, run every component of the construct, weight them by the stage, return a Breakdown.

A Breakdown keeps each component's value and the detail that explains it, so a user can see why a
completion got its reward. Nothing raises out of `score`: a component that fails, or input that is
not text, gets the component's floor and the reason in `errors`.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from judgecraft.answer import AnswerChecker, parse_gold
from judgecraft.construct import Construct, load_construct
from judgecraft.params import component_params
from judgecraft.parse import Parsed, detect_prefill, parse
from judgecraft.scores import COMPONENTS, Context

Prompt = str | Sequence[dict[str, Any]] | None
DEFAULT_MAX_SECTION_CHARS = 1_000_000  # about 250k tokens per section: far past any real trace
MAX_ANSWER_BITS = 3300  # about 1000 digits: longer integers are not gold answers (and str() refuses past 4300)


@dataclass(frozen=True, slots=True)
class ComponentScore:
    value: float | None  # None: not applicable to this completion (e.g. correctness without a gold answer)
    weight: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Breakdown:
    """The reward of one completion and every component behind it."""

    total: float
    components: dict[str, ComponentScore]
    errors: list[str] = field(default_factory=list)
    construct: str = ""
    stage: str = ""
    cut: dict[str, int] = field(default_factory=dict)  # section -> characters left unscored (max_section_chars)

    def values(self) -> dict[str, float | None]:
        return {name: c.value for name, c in self.components.items()}

    def flat(self) -> dict[str, Any]:
        """One flat row for JSONL / Parquet: total, every component value, and the first error."""
        return {"total": self.total, **self.values(), "error": "; ".join(self.errors) or None}

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "construct": self.construct,
            "stage": self.stage,
            "components": {
                name: {"value": c.value, "weight": c.weight, "detail": c.detail} for name, c in self.components.items()
            },
            "errors": list(self.errors),
            "cut": dict(self.cut),
        }


def prefill_from_prompt(prompt: Prompt, construct: Construct) -> str:
    """A prefill the prompt implies: its text (or its final assistant message) ending in opening tags."""
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return detect_prefill(prompt, construct)
    if not isinstance(prompt, Sequence) or isinstance(prompt, bytes | bytearray):
        raise TypeError(f"prompt is {type(prompt).__name__}: expected text or a list of chat messages")
    messages = list(prompt)
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
        content = messages[-1].get("content")
        return detect_prefill(content, construct) if isinstance(content, str) else ""
    return ""


class Scorer:
    """Scores completions of one construct at one training stage.

    Args:
        construct: a built-in name ("pkv", "think"), a path to a TOML spec, or a Construct.
        stage: a stage of the construct (pkv: round1, round2, round3); None for its default.
        weights: component weights that override the stage's (0 keeps a component in the breakdown only).
        params: per-component parameter overrides, e.g. {"length": {"unit": "words"}}.
        components: which components to compute: "all" (default, every component of the construct),
            "weighted" (only those the stage weights: what a trainer needs, several times faster), or
            a list of names. `score(..., components=...)` asks for others on one call.
        max_section_chars: characters scored per section and in the final answer (first and last
            halves kept); bounds the cost of any completion. None: no bound. What was cut is in
            `Breakdown.cut` and in each component's detail.
        tokenizer: a tokenizer object or a Hugging Face name, for length in tokens.
        answer_timeout: seconds before the math-verify worker is killed for one answer.
    """

    def __init__(
        self,
        construct: str | Construct = "pkv",
        stage: str | None = None,
        weights: dict[str, float] | None = None,
        params: dict[str, dict[str, Any]] | None = None,
        components: Iterable[str] | None = None,
        tokenizer: Any = None,
        answer_timeout: float = 5.0,
        use_math_verify: bool = True,
        max_section_chars: int | None = DEFAULT_MAX_SECTION_CHARS,
    ):
        self.construct = load_construct(construct)
        c = self.construct
        self.stage = c.stage(stage).name
        self.weights = dict(c.stage(stage).weights)
        for name, w in (weights or {}).items():
            if name not in c.components:
                raise ValueError(f"weights: {name!r} is not a component of {c.name!r}: {list(c.components)}")
            self.weights[name] = float(w)
        self.params = component_params(c, stage, params)
        self.components = self._select(components)
        if max_section_chars is not None and max_section_chars < 2:
            raise ValueError(f"max_section_chars must be at least 2 (or None), got {max_section_chars}")
        self.max_section_chars = max_section_chars
        self.tokenizer = _resolve_tokenizer(tokenizer)
        if self.params.get("length", {}).get("unit") == "tokens" and self.tokenizer is None:
            raise ValueError("length is counted in tokens: pass tokenizer= (a name or a tokenizer object)")
        self.checker = AnswerChecker(timeout=answer_timeout, use_math_verify=use_math_verify)

    def _select(self, components: str | Iterable[str] | None) -> tuple[str, ...]:
        """Component names in the construct's order: "all" (or None), "weighted", or the names listed."""
        c = self.construct
        if components is None or components == "all":
            return c.components
        if components == "weighted":
            return tuple(n for n in c.components if self.weights.get(n))
        if isinstance(components, str):
            raise ValueError(f'components: expected "all", "weighted" or a list of names, got {components!r}')
        chosen = set(components)
        for name in chosen:
            if name not in c.components:
                raise ValueError(f"components: {name!r} is not a component of {c.name!r}: {list(c.components)}")
        return tuple(n for n in c.components if n in chosen)

    @property
    def active(self) -> dict[str, float]:
        """The components that count towards the total, with their weights."""
        return {n: w for n, w in self.weights.items() if w and n in self.components}

    def score(
        self,
        completion: Any,
        answer: Any = None,
        prompt: Prompt = None,
        prefill: str | None = None,
        verdict: Any = None,
        components: str | Iterable[str] | None = None,
    ) -> Breakdown:
        """Score one completion. `prefill=None` infers it from the prompt; pass "" to turn that off.

        Never raises: input that cannot be read (a completion that is not text, an answer that is
        not a readable value, a prompt that is neither text nor messages) gives the floor of every
        component with the reason in `errors`; a component that fails gets its floor and the reason.

        >>> scorer = Scorer("pkv", stage="round1")  # weights: tags, structure, correctness
        >>> bd = scorer.score(
        ...     "<competition><pirate>Arr, 2 + 2 be 4.</pirate><knight>Two and two make 4.</knight>"
        ...     "<viking>Four!</viking><result>All agree.<winner>knight</winner></result></competition>"
        ...     "The answer is 4.",
        ...     answer="4",
        ... )
        >>> bd.total, bd.values()["tags"], bd.values()["winner"], bd.values()["judge_quality"]
        (3.0, 1.0, 1.0, None)
        >>> scorer.score("The answer is 5.", answer="4").values()["correctness"]
        0.0
        >>> scorer.score(None).errors
        ['input: TypeError: completion is NoneType, not text']
        """
        names = self.components if components is None else self._select(components)
        errors: list[str] = []
        try:
            if not isinstance(completion, str):
                raise TypeError(f"completion is {type(completion).__name__}, not text")
            if prefill is None:
                prefill = prefill_from_prompt(prompt, self.construct)
            elif not isinstance(prefill, str):
                raise TypeError(f"prefill is {type(prefill).__name__}, not text")
            gold_text = answer_text(answer)
            gold = parse_gold(gold_text) if gold_text is not None else None
        except Exception as err:
            return self._floor(names, [f"input: {type(err).__name__}: {_message(err)}"])
        try:
            parsed = parse(completion, self.construct, prefill=prefill, max_section_chars=self.max_section_chars)
        except Exception as err:  # the parser is total; this is a last line of defence
            return self._floor(names, [f"parse failed: {type(err).__name__}: {_message(err)}"])
        ctx = Context(parsed, self.params, self.checker, gold, self.tokenizer, verdict)
        return self._breakdown(parsed, ctx, errors, names)

    def _floor(self, names: Sequence[str], errors: list[str]) -> Breakdown:
        """Every component at the bottom of its range: what unreadable input earns, with the reason."""
        results, total = {}, 0.0
        for name in names:
            spec, weight = COMPONENTS[name], self.weights.get(name, 0.0)
            results[name] = ComponentScore(spec.low, weight, {"error": errors[0]})
            total += weight * spec.low
        return Breakdown(round(total, 10), results, errors, self.construct.name, self.stage)

    def _breakdown(self, parsed: Parsed, ctx: Context, errors: list[str], names: Sequence[str]) -> Breakdown:
        results: dict[str, ComponentScore] = {}
        total = 0.0
        for name in names:
            spec = COMPONENTS[name]
            weight = self.weights.get(name, 0.0)
            try:
                result = spec.fn(parsed, ctx)
                value = result.value
                if value is not None:
                    value = float(value)
                    if not spec.low < value < spec.high:  # inside the range (the common case) it stands as it is
                        value = min(spec.high, max(spec.low, value)) if math.isfinite(value) else spec.low
                detail = {**result.detail, "cut": parsed.cut} if parsed.cut else result.detail
            except Exception as err:
                value = spec.low
                detail = {"error": f"{type(err).__name__}: {_message(err)}"}
                errors.append(f"{name}: {detail['error']}")
            results[name] = ComponentScore(value, weight, detail)
            if value is not None and weight:
                total += weight * value
        return Breakdown(round(total, 10), results, errors, self.construct.name, self.stage, dict(parsed.cut))

    def score_many(
        self,
        completions: Sequence[Any],
        answers: Sequence[Any] | None = None,
        prompts: Sequence[Prompt] | None = None,
        prefills: Sequence[str | None] | None = None,
        workers: int = 1,
        chunk_size: int = 256,
    ) -> list[Breakdown]:
        """Score many completions, in `workers` processes when more than one (order is kept)."""
        n = len(completions)
        rows = list(
            zip(
                completions,
                answers if answers is not None else [None] * n,
                prompts if prompts is not None else [None] * n,
                prefills if prefills is not None else [None] * n,
                strict=True,
            )
        )
        if workers <= 1 or n < 2 * chunk_size:
            return [self.score(*row) for row in rows]
        chunks = [rows[i : i + chunk_size] for i in range(0, n, chunk_size)]
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(self,)) as pool:
            return [bd for chunk in pool.map(_score_chunk, chunks) for bd in chunk]


_worker_scorer: Scorer | None = None


def _init_worker(scorer: Scorer) -> None:
    global _worker_scorer
    _worker_scorer = scorer


def _score_chunk(rows: list[tuple]) -> list[Breakdown]:
    assert _worker_scorer is not None
    return [_worker_scorer.score(*row) for row in rows]


def answer_text(answer: Any) -> str | None:
    """A gold answer as text (None when there is none); raises ValueError/TypeError when it cannot be read."""
    if answer is None:
        return None
    if isinstance(answer, str):
        text = answer
    elif isinstance(answer, bytes | bytearray):
        text = bytes(answer).decode("utf-8")
    elif isinstance(answer, bool) or not isinstance(answer, int | float | Fraction | Decimal):
        raise TypeError(f"answer is {type(answer).__name__}: expected text or a number")
    elif isinstance(answer, int) and answer.bit_length() > MAX_ANSWER_BITS:
        raise ValueError(f"answer is an integer of {answer.bit_length()} bits, too large to be a gold answer")
    elif isinstance(answer, float | Decimal) and not math.isfinite(answer):
        raise ValueError(f"answer is {answer}, not a finite number")
    else:
        text = str(answer)
    return text if text.strip() else None


def _message(err: BaseException) -> str:
    """An exception's message, cut short (a huge input can make one enormous)."""
    try:
        text = str(err)
    except Exception:  # even str() of an exception can fail
        text = "(unprintable)"
    return text if len(text) <= 300 else text[:300] + "..."


def _resolve_tokenizer(tokenizer: Any) -> Any:
    if tokenizer is None or not isinstance(tokenizer, str):
        return tokenizer
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer)
