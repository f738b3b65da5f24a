"""What a judge returns: a Verdict (the vote of one or more shuffled judge calls) or a JudgeError.

This module is deliberately free of heavy imports: the score components `judge_winner`,
`judge_quality` and `judge_reflection` read verdicts from here, and every Scorer loads them.
A verdict also round-trips through a plain dict, so verdicts stored in a JSONL dump can be fed
back into `Scorer.score(..., verdict=row["judge"])` without running the judge again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

QUALITY_CRITERIA = ("correctness", "thoroughness", "originality")
REFLECTION_CRITERION = "self_reflection"


class JudgeError(Exception):
    """A row the judge could not give a verdict for; returned in place of a Verdict, never lost.

    kind: "input" (nothing to judge), "backend" (the model or server failed after retries),
    "malformed" (the verdict never parsed against the schema), "too_long" (the prompt does not
    fit the judge's context), "timeout" (no answer before the caller's deadline).
    """

    def __init__(self, message: str, kind: str = "backend", attempts: int = 0, key: str | None = None):
        super().__init__(message)
        self.message, self.kind, self.attempts, self.key = message, kind, attempts, key

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.message, "kind": self.kind, "attempts": self.attempts, "key": self.key}

    def __repr__(self) -> str:
        return f"JudgeError({self.kind}: {self.message})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JudgeError) and self.to_dict() == other.to_dict()

    __hash__ = Exception.__hash__


class JudgeSetupError(RuntimeError):
    """The judge cannot start at all (model folder missing, no server answering): fix the set-up."""


@dataclass
class ShuffleVerdict:
    """One judge call: the order the candidates were shown in and what the judge said, mapped to names."""

    order: list[str]  # candidate names by display position
    labels: list[str]  # the label shown at each display position
    winner: str | None  # the candidate the judge picked (None when only one candidate was shown)
    position: int | None  # display position (0-based) of the pick: what position bias is measured on
    scores: dict[str, dict[str, float]]  # name -> criterion -> value on the judge's scale (probability-weighted
    #                                      when the backend returned logprobs, else the integer it wrote)
    written: dict[str, dict[str, int]]  # name -> criterion -> the integer the judge wrote (argmax)
    winner_probs: dict[str, float] | None  # name -> probability of being picked, from logprobs
    rationale: str
    cached: bool = False
    weighted: bool = False  # some grades were read from logprobs


@dataclass
class Verdict:
    """The judge's verdict on one item: the vote of its shuffles, with scores normalised to 0..1."""

    candidates: list[str]  # candidate names in their original order (the construct's persona order)
    winner: str | None  # majority of the shuffles' picks; ties broken by pick probability, then quality
    scores: dict[str, dict[str, float]]  # name -> criterion -> 0..1, averaged over shuffles
    votes: dict[str, int]  # name -> number of shuffles that picked it
    winner_probs: dict[str, float]  # name -> probability of being picked (logprobs when available, else votes)
    rationale: str
    shuffles: list[ShuffleVerdict] = field(default_factory=list)
    weighted: bool = False  # scores are probability-weighted (logprobs), not argmax
    model: str = ""
    errors: list[str] = field(default_factory=list)  # shuffles that failed (the verdict is their survivors' vote)
    key: str | None = None

    @property
    def cached(self) -> bool:
        return bool(self.shuffles) and all(s.cached for s in self.shuffles)

    @property
    def tie(self) -> bool:
        return self.winner is None and len(self.candidates) > 1

    def quality(self, name: str, criteria: tuple[str, ...] | list[str] = QUALITY_CRITERIA) -> float | None:
        """Mean of a candidate's normalised scores over `criteria` (None if it has none of them)."""
        values = [self.scores.get(name, {}).get(c) for c in criteria]
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        data = dict(data)
        data["shuffles"] = [ShuffleVerdict(**s) for s in data.get("shuffles", [])]
        return cls(**data)


def as_verdict(obj: Any) -> Verdict | JudgeError | None:
    """Accept what a caller may pass as `verdict=`: a Verdict, a JudgeError, their dict forms, or None."""
    if obj is None or isinstance(obj, Verdict | JudgeError):
        return obj
    if isinstance(obj, dict):
        if "error" in obj and "winner" not in obj:
            return JudgeError(str(obj["error"]), obj.get("kind", "backend"), obj.get("attempts", 0), obj.get("key"))
        try:
            return Verdict.from_dict(obj)
        except TypeError as err:
            return JudgeError(f"not a verdict: {err}", "input")
    return JudgeError(f"not a verdict: {type(obj).__name__}", "input")
