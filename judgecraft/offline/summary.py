"""The end-of-run summary: mergeable totals that scoring processes build and the writer merges."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from judgecraft.outputs import safe_text
from judgecraft.scorer import Breakdown, Scorer


def _error_kind(message: str) -> str:
    """A short class of an error message for counting: the text before its details."""
    for stop in (" (", ": ", " at "):
        message = message.split(stop, 1)[0]
    return message[:60]


@dataclass
class Summary:
    """Mergeable totals over scored rows: worker processes build partial ones, the writer merges them."""

    rows: int = 0
    scored: int = 0
    malformed: int = 0  # rows that could not be read: null scores and an error
    with_errors: int = 0  # scored rows that carry an error note (a failed component, an ignored prompt)
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    format_rows: int = 0
    valid_format: int = 0  # every tag present, in order, correctly nested (structure "exact" or "variant")
    exact_format: int = 0
    graded: int = 0  # rows with a gold answer (correctness applies)
    correct: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)  # the first few errors, with their row

    MAX_EXAMPLES = 8

    def add(self, row: Mapping[str, Any], bd: Breakdown | None, scorer: Scorer) -> None:
        self.rows += 1
        error = row.get("error")
        if error:
            kind = _error_kind(str(error))
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1
            if len(self.examples) < self.MAX_EXAMPLES:
                self.examples.append(f"row {row['row']} (id {str(safe_text(row['id']))[:80]}): {error}"[:300])
        if bd is None:
            self.malformed += 1
            return
        self.scored += 1
        self.with_errors += bool(error)
        for name in ("total", *scorer.components):
            value = row.get(name)
            if value is not None:
                self.sums[name] = self.sums.get(name, 0.0) + value
                self.counts[name] = self.counts.get(name, 0) + 1
        structure = bd.components.get("structure")
        if structure is not None and structure.value is not None:
            self.format_rows += 1
            verdict = structure.detail.get("verdict")
            self.valid_format += verdict in ("exact", "variant")
            self.exact_format += verdict == "exact"
        correctness = bd.components.get("correctness")
        if correctness is not None and correctness.value is not None:
            self.graded += 1
            self.correct += correctness.value >= scorer.params["correctness"]["correct"]

    def merge(self, other: Summary) -> None:
        for name in ("rows", "scored", "malformed", "with_errors", "format_rows", "valid_format", "exact_format"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.graded += other.graded
        self.correct += other.correct
        for target, source in ((self.sums, other.sums), (self.counts, other.counts)):
            for k, v in source.items():
                target[k] = target.get(k, 0) + v
        for k, v in other.error_kinds.items():
            self.error_kinds[k] = self.error_kinds.get(k, 0) + v
        self.examples.extend(other.examples[: max(0, self.MAX_EXAMPLES - len(self.examples))])

    def means(self) -> dict[str, float | None]:
        return {k: (self.sums[k] / n if (n := self.counts.get(k)) else None) for k in self.counts}

    def report(self) -> dict[str, Any]:
        """The summary as printed and written by `--summary-json`."""

        def share(part: int, whole: int) -> float | None:
            return part / whole if whole else None

        means = self.means()
        return {
            "rows": self.rows,
            "scored": self.scored,
            "malformed": self.malformed,
            "scored_with_errors": self.with_errors,
            "means": means,
            "valid_format": share(self.valid_format, self.format_rows),
            "exact_format": share(self.exact_format, self.format_rows),
            "accuracy": share(self.correct, self.graded),
            "graded": self.graded,
            "judge_accuracy": means.get("judge_accuracy"),
            "error_kinds": dict(Counter(self.error_kinds).most_common()),
            "error_examples": list(self.examples),
        }

    def state(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Summary:
        return cls(**state) if state else cls()
