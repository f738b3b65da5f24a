"""Folding judge calls into verdicts: one call's parsed output -> a ShuffleVerdict, an item's shuffles -> a Verdict.

A call's output is read as soon as it arrives (labels mapped back to names, grades weighted by
their logprobs), so anything odd in it fails that call alone, before it can be cached. An item's
shuffles then vote: the most picks wins, ties broken by pick probability, then by mean grade.
"""

from __future__ import annotations

from typing import Any

from judgecraft.judge.config import JudgeConfig
from judgecraft.judge.logprobs import weighted
from judgecraft.judge.prompts import JudgeItem
from judgecraft.judge.verdict import JudgeError, ShuffleVerdict, Verdict


def shuffle_verdict(
    order: list[str], labels: list[str], parsed: dict[str, Any], tokens: Any, config: JudgeConfig, cached: bool
) -> ShuffleVerdict:
    """One judge call's verdict, mapped from the labels shown back to the candidates' names."""
    name_of = dict(zip(labels, order, strict=True))
    criteria = config.criterion_names
    written = {name_of[lab]: {c: int(parsed["scores"][lab][c]) for c in criteria} for lab in labels}
    grades, picks = ({}, None)
    if config.weighting == "logprobs":
        grades, picks = weighted(tokens, labels, criteria, config.scale)
    scores = {
        name_of[lab]: {c: float(grades.get(lab, {}).get(c, written[name_of[lab]][c])) for c in criteria}
        for lab in labels
    }
    winner_label = parsed.get("winner")
    return ShuffleVerdict(
        order=list(order),
        labels=list(labels),
        winner=name_of.get(winner_label) if winner_label else None,
        position=labels.index(winner_label) if winner_label in labels else None,
        scores=scores,
        written=written,
        winner_probs={name_of[lab]: picks.get(lab, 0.0) for lab in labels} if picks else None,
        rationale=str(parsed.get("rationale", "")),
        cached=cached,
        weighted=bool(grades),
    )


def fold(
    item: JudgeItem, shuffles: list[ShuffleVerdict], errors: list[JudgeError], config: JudgeConfig, model: str
) -> Verdict | JudgeError:
    """The item's verdict: its shuffles' vote with averaged, normalised grades; a JudgeError if none survived."""
    key = None if item.id is None else str(item.id)
    if not shuffles:
        first = errors[0] if errors else JudgeError("no verdict", "backend")
        return JudgeError(first.message, first.kind, sum(e.attempts for e in errors), key)
    names = item.names
    low, high = config.scale
    span = float(high - low)
    criteria = config.criterion_names
    scores = {
        n: {c: round((sum(s.scores[n][c] for s in shuffles) / len(shuffles) - low) / span, 6) for c in criteria}
        for n in names
    }
    votes = {n: sum(s.winner == n for s in shuffles) for n in names}
    if len(names) > 1 and all(s.winner_probs for s in shuffles):
        probs = {n: sum(s.winner_probs[n] for s in shuffles) / len(shuffles) for n in names}  # type: ignore[index]
    else:
        probs = {n: votes[n] / len(shuffles) for n in names}
    winner = pick(names, votes, probs, scores) if len(names) > 1 else None
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
        model=model,
        errors=[e.message for e in errors],
        key=key,
    )


def pick(
    names: list[str], votes: dict[str, int], probs: dict[str, float], scores: dict[str, dict[str, float]]
) -> str | None:
    """Most votes; ties broken by pick probability, then by mean grade; a tie on all three is no winner."""

    def rank(n: str) -> tuple[int, float, float]:
        return votes[n], round(probs[n], 9), round(sum(scores[n].values()) / max(1, len(scores[n])), 9)

    ranked = sorted(names, key=rank, reverse=True)
    return None if rank(ranked[0]) == rank(ranked[1]) else ranked[0]
