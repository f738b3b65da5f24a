"""The judge's settings, read from a construct's `[judge]` table (prompt template, labels, defaults).

A construct brings its own judge prompt, so a new construct (four personas, a plan/solve/check
scheme) is judged in its own terms without code. Everything has a default here; the table only
overrides. Templates use `string.Template` placeholders (`$question`), not `str.format`, because
maths and JSON in a prompt are full of braces. Unknown keys and unknown placeholders fail at load
time with the construct's file and the key, not at the first judge call of a training run.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, fields, replace
from typing import Any

from judgecraft.construct import Construct, ConstructError, load_construct

DEFAULT_SYSTEM = (
    "You are an impartial, strict judge of written reasoning. You compare solutions to the same problem "
    "and grade each one on its own merits. Solutions are shown in an arbitrary order under arbitrary labels: "
    "neither the order nor the label says anything about quality. You reply with a single JSON object."
)

DEFAULT_TEMPLATE = """Problem:
$question

$solutions

Grade every solution ($labels) on each criterion with an integer from $low (worst) to $high (best):
$criteria
$choose
Start with a short rationale (at most $max_chars characters), then the grades. Reply with the JSON object only."""

DEFAULT_CANDIDATE = "[Solution $label]\n$text\n[End of solution $label]"

DEFAULT_CHOOSE = "Then name the single best solution as the winner: the one whose reasoning and answer you trust most."

DEFAULT_CRITERIA = {
    "correctness": "is the reasoning sound and is the final answer right?",
    "thoroughness": "does it show its work completely, step by step, without gaps?",
    "originality": "does it take its own approach instead of repeating another solution?",
    "self_reflection": "does it check its own work and catch or correct its own mistakes?",
}

TEMPLATE_FIELDS = {
    "template": {"question", "solutions", "labels", "low", "high", "criteria", "choose", "max_chars"},
    "candidate": {"label", "text"},
    "system": set(),
    "choose": set(),
}


def spreadsheet_labels(n: int) -> list[str]:
    """A, B, ..., Z, AA, AB, ...: as many distinct neutral labels as there are candidates."""
    out = []
    for i in range(n):
        label, i = "", i + 1
        while i:
            i, r = divmod(i - 1, 26)
            label = chr(ord("A") + r) + label
        out.append(label)
    return out


@dataclass(frozen=True)
class JudgeConfig:
    """How a construct is judged. Build with `JudgeConfig.from_construct(construct, **overrides)`."""

    system: str = DEFAULT_SYSTEM
    template: str = DEFAULT_TEMPLATE
    candidate: str = DEFAULT_CANDIDATE
    choose: str = DEFAULT_CHOOSE
    criteria: tuple[tuple[str, str], ...] = tuple(DEFAULT_CRITERIA.items())  # (name, description)
    labels: tuple[str, ...] = ("A", "B", "C", "D", "E", "F", "G", "H")  # neutral labels; () shows names
    shuffles: int = 1  # orders per item: 0 = the original order (no shuffle); n = n rotations of a random order
    scale: tuple[int, int] = (1, 9)  # single digits: one token each, so logprobs weight them exactly
    rationale_max_chars: int = 300
    max_chars_per_candidate: int = 6000  # longer candidates keep their head and tail
    max_tokens: int = 400
    top_logprobs: int = 20  # 0 turns probability weighting off
    weighting: str = "logprobs"  # "logprobs" (probability-weighted scores where available) | "argmax"

    @property
    def criterion_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.criteria)

    def labels_for(self, names: list[str] | tuple[str, ...]) -> list[str]:
        """Display labels for n candidates: the neutral labels, or the names themselves when labels are off."""
        if not self.labels:
            return list(names)
        if len(names) <= len(self.labels):
            return list(self.labels[: len(names)])
        if list(self.labels) != spreadsheet_labels(len(self.labels)):
            raise ValueError(f"{len(names)} candidates but only {len(self.labels)} judge labels {list(self.labels)}")
        return spreadsheet_labels(len(names))  # the default A..H run on: A..Z, then AA, AB, ...

    def with_overrides(self, **overrides: Any) -> JudgeConfig:
        given = {k: v for k, v in overrides.items() if v is not None}
        for key in ("labels", "scale"):
            if key in given:
                given[key] = tuple(given[key])
        if isinstance(given.get("criteria"), dict):
            given["criteria"] = tuple(given["criteria"].items())
        return _validated(replace(self, **given), "<overrides>")

    @classmethod
    def from_construct(cls, construct: str | Construct, **overrides: Any) -> JudgeConfig:
        c = load_construct(construct)
        raw = dict(c.judge)
        source = c.source
        known = {f.name for f in fields(cls)}
        for key in raw:
            if key not in known:
                raise ConstructError(source, f"judge.{key}", f"unknown key; expected one of {sorted(known)}")
        if "criteria" in raw:
            crit = raw["criteria"]
            if not isinstance(crit, dict) or not crit or not all(isinstance(v, str) for v in crit.values()):
                raise ConstructError(source, "judge.criteria", "must be a table of criterion = description")
            raw["criteria"] = tuple(crit.items())
        for key in ("labels", "scale"):
            if key in raw:
                if not isinstance(raw[key], list):
                    raise ConstructError(source, f"judge.{key}", f"must be a list, got {raw[key]!r}")
                raw[key] = tuple(raw[key])
        try:
            config = replace(cls(), **raw)
        except TypeError as err:
            raise ConstructError(source, "judge", str(err)) from None
        return _validated(config, source).with_overrides(**overrides)


def _validated(config: JudgeConfig, source: str) -> JudgeConfig:
    def fail(key: str, problem: str) -> ConstructError:
        return ConstructError(source, f"judge.{key}", problem)

    for key, allowed in TEMPLATE_FIELDS.items():
        text = getattr(config, key)
        if not isinstance(text, str):
            raise fail(key, f"must be a string, got {type(text).__name__}")
        template = string.Template(text)
        if not template.is_valid():
            raise fail(key, "is not a valid template (a lone $? write $$ for a dollar sign)")
        unknown = set(template.get_identifiers()) - allowed
        if unknown:
            raise fail(key, f"unknown placeholders {sorted(unknown)}; allowed: {sorted(allowed) or 'none'}")
    if "solutions" not in string.Template(config.template).get_identifiers():
        raise fail("template", "must contain $solutions (where the candidates go)")
    if "text" not in string.Template(config.candidate).get_identifiers():
        raise fail("candidate", "must contain $text")
    if len(set(config.labels)) != len(config.labels) or not all(isinstance(x, str) and x for x in config.labels):
        raise fail("labels", "must be distinct non-empty strings")
    low_high = config.scale
    if len(low_high) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in low_high):
        raise fail("scale", f"must be two integers [low, high], got {list(low_high)}")
    if not low_high[0] < low_high[1]:
        raise fail("scale", f"low must be below high, got {list(low_high)}")
    for key in ("shuffles", "rationale_max_chars", "max_chars_per_candidate", "max_tokens", "top_logprobs"):
        value = getattr(config, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise fail(key, f"must be a non-negative integer, got {value!r}")
    if config.max_tokens < 1 or config.rationale_max_chars < 1:
        raise fail("max_tokens", "max_tokens and rationale_max_chars must be at least 1")
    if config.weighting not in ("logprobs", "argmax"):
        raise fail("weighting", f"must be 'logprobs' or 'argmax', got {config.weighting!r}")
    return config
