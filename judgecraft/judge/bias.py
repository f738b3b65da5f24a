"""Position bias: which position the judge picks, with the personas in their original order and shuffled.

Two numbers per mode, both as shares of the judge's picks (one pick per judge call):
- `shown`: the position on screen (A, B, C) of the pick. This is the model's own preference for a
  slot; shuffling cannot change it, it only changes who sits there.
- `original`: the position the picked persona has in the completion (pirate first, knight
  second, viking third). This is what a biased judge turns into reward: unshuffled it equals
  `shown`, so a judge that favours slot A always rewards the pirate. Shuffled, every persona sits
  in every slot equally often (rotations), so a pure position preference spreads evenly.

`max_deviation` is the largest gap, in percentage points, between a share and the uniform 1/n.
The report also gives how often an item's shuffles agreed on one persona (a judge that reads
content agrees with itself across orders; a judge that reads positions does not), and, where
the caller passes the answer checker's calls, the judge-verifier agreement (agreement.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from judgecraft.judge.agreement import judge_says_right, kappa, table
from judgecraft.judge.prompts import JudgeItem
from judgecraft.judge.verdict import Verdict


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [round(100.0 * c / total, 2) if total else 0.0 for c in counts]


def _deviation(shares: list[float]) -> float:
    if not shares or not sum(shares):
        return 0.0
    uniform = 100.0 / len(shares)
    return round(max(abs(s - uniform) for s in shares), 2)


@dataclass
class ModeStats:
    verdicts: int = 0  # judge calls with a pick
    shown: list[float] = field(default_factory=list)  # % of picks per displayed position
    original: list[float] = field(default_factory=list)  # % of picks per original position
    shown_deviation: float = 0.0
    original_deviation: float = 0.0
    final_original: list[float] = field(default_factory=list)  # % of items' final (voted) winners per original position
    final_deviation: float = 0.0
    ties: int = 0  # items whose shuffles tied (no final winner)
    agreement: float | None = None  # % of items whose shuffles all picked the same persona
    errors: int = 0


@dataclass
class BiasReport:
    items: int
    positions: int
    shuffles: int
    tolerance: float
    unshuffled: ModeStats
    shuffled: ModeStats
    judge_verifier: dict[str, Any] | None = None  # Cohen's kappa of the shuffled verdicts vs the answer checker

    @property
    def shuffled_within_tolerance(self) -> bool:
        return self.shuffled.original_deviation <= self.tolerance

    @property
    def unshuffled_within_tolerance(self) -> bool:
        return self.unshuffled.original_deviation <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "shuffled_within_tolerance": self.shuffled_within_tolerance,
            "unshuffled_within_tolerance": self.unshuffled_within_tolerance,
        }

    def table(self) -> Any:
        from rich.table import Table

        pos = [chr(ord("A") + i) for i in range(self.positions)]
        t = Table(title=f"position bias over {self.items} items ({self.positions} candidates each)")
        t.add_column("mode")
        t.add_column("picks")
        t.add_column("shown position % (" + "/".join(pos) + ")")
        t.add_column("original position % (1st/2nd/3rd...)")
        t.add_column("max dev. shown / original (pts)")
        t.add_column("agreement %")
        for name, m in (("unshuffled", self.unshuffled), (f"shuffled x{self.shuffles}", self.shuffled)):
            t.add_row(
                name,
                str(m.verdicts),
                " / ".join(f"{s:.1f}" for s in m.shown),
                " / ".join(f"{s:.1f}" for s in m.original),
                f"{m.shown_deviation:.1f} / {m.original_deviation:.1f}",
                "-" if m.agreement is None else f"{m.agreement:.1f}",
            )
        return t


def _stats(items: list[JudgeItem], verdicts: list[Any], n: int) -> ModeStats:
    shown, original, final = [0] * n, [0] * n, [0] * n
    stats = ModeStats()
    agree, multi = 0, 0
    for item, verdict in zip(items, verdicts, strict=True):
        if not isinstance(verdict, Verdict):
            stats.errors += 1
            continue
        picks = []
        for s in verdict.shuffles:
            if s.winner is None or s.position is None:
                continue
            stats.verdicts += 1
            shown[s.position] += 1
            original[item.names.index(s.winner)] += 1
            picks.append(s.winner)
        if len(verdict.shuffles) > 1 and picks:
            multi += 1
            agree += len(set(picks)) == 1 and len(picks) == len(verdict.shuffles)
        if verdict.winner is None:
            stats.ties += 1
        else:
            final[item.names.index(verdict.winner)] += 1
    stats.shown, stats.original, stats.final_original = _shares(shown), _shares(original), _shares(final)
    stats.shown_deviation = _deviation(stats.shown)
    stats.original_deviation = _deviation(stats.original)
    stats.final_deviation = _deviation(stats.final_original)
    stats.agreement = round(100.0 * agree / multi, 2) if multi else None
    return stats


def measure_position_bias(
    judge: Any,
    items: list[JudgeItem],
    shuffles: int | None = None,
    tolerance: float = 5.0,
    progress: bool = False,
    answer_right: list[bool | None] | None = None,
) -> BiasReport:
    """Judge `items` in their original order and in `shuffles` rotations (default: one per candidate); compare.

    Only items with the most common number of candidates take part (positions must mean the same).
    `answer_right`: the answer checker's call per item (None: no gold answer), for the kappa.
    """
    sizes = [len(i.candidates) for i in items if not i.empty and len(i.candidates) > 1]
    if not sizes:
        raise ValueError("no item has two or more candidates to choose between")
    n = max(set(sizes), key=sizes.count)
    keep = [k for k, i in enumerate(items) if len(i.candidates) == n and not i.empty]
    items = [items[k] for k in keep]
    k = n if shuffles is None else shuffles
    plain = judge.judge_many(items, shuffles=0, progress=progress)
    mixed = judge.judge_many(items, shuffles=k, progress=progress)
    agreement = None
    if answer_right is not None:
        calls = [answer_right[k] for k in keep]
        agreement = kappa(table((judge_says_right(v), right) for v, right in zip(mixed, calls, strict=True)))
    return BiasReport(len(items), n, k, tolerance, _stats(items, plain, n), _stats(items, mixed, n), agreement)
