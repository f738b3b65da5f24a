"""What the judge's commands do between reading a dump and printing a summary (commands.py stays options only)."""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from judgecraft.io import Fields, atomic_write_text, read_records
from judgecraft.judge.rows import jsonl_text, read_mappings

console = Console(stderr=True)


def _table(title: str, counts: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, value in counts.items():
        table.add_row(key, str(value))
    console.print(table)


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, jsonl_text(records))


def _kappa_line(agreement: dict[str, Any] | None) -> str:
    if not agreement or not agreement.get("rows"):
        return "judge-verifier agreement: no row with a gold answer and a verdict"
    k = agreement["kappa"]
    return (f"judge-verifier agreement on {agreement['rows']} rows with a gold answer: "
            f"{100 * agreement['agreement']:.0f}%, Cohen's kappa {'n/a' if k is None else f'{k:.2f}'}")  # fmt: skip


def judge_to_file(judge: Any, dump: Path, out: Path, fields: Fields, settings: dict, batch_size: int, restart: bool):
    from judgecraft.judge.run import ResumeMismatch, judge_dump

    try:
        counts = judge_dump(judge, dump, out, fields, settings, batch_size=batch_size, restart=restart)
    except ResumeMismatch as err:
        console.print(f"[red]{err}")
        raise typer.Exit(2) from None
    counts["backend calls"] = judge.stats.get("backend_calls", 0)
    counts["cache hits"] = judge.stats.get("cache_hits", 0)
    return counts


def print_run_summary(dump: Path, out: Path, counts: dict[str, Any]) -> None:
    agreement = counts.pop("judge_verifier", None)
    _table(f"judged {dump} -> {out}", counts)
    console.print(_kappa_line(agreement))
    resumed = f", resumed at row {counts['resumed_at_row']}" if counts.get("resumed_at_row") else ""
    console.print(
        f"{counts['judged']}/{counts['rows']} rows judged, {counts['judge errors']} judge errors, "
        f"{counts['bad rows']} bad rows, {counts['backend calls']} backend calls, {counts['cache hits']} cache hits"
        + resumed
    )


def bias(judge: Any, dump: Path, fields: Fields, tolerance: float, limit: int, shuffles: int | None) -> dict:
    """Position bias (and judge-verifier kappa) over the dump's first `limit` usable rows."""
    from judgecraft.judge.agreement import checker_says_right
    from judgecraft.judge.bias import measure_position_bias
    from judgecraft.scorer import Scorer

    checker = Scorer(judge.construct, components=["correctness"])
    records = [r for r in islice(read_records(dump, fields), limit) if r.completion is not None]
    items = [judge.item(r.prompt, r.completion, r.answer, r.id) for r in records]
    calls = [checker_says_right(checker, r.completion, r.answer, r.prompt) for r in records]
    try:
        report = measure_position_bias(judge, items, shuffles or None, tolerance, True, answer_right=calls)
    except ValueError as err:
        console.print(f"[red]bias report: {err}")
        raise typer.Exit(2) from None
    console.print(report.table())
    console.print(
        f"original-position pick: unshuffled {report.unshuffled.original_deviation:.1f} pts from uniform, "
        f"shuffled {report.shuffled.original_deviation:.1f} pts (tolerance {tolerance:g}): "
        + ("shuffling holds the bias within tolerance" if report.shuffled_within_tolerance else "outside tolerance")
    )
    console.print(_kappa_line(report.judge_verifier))
    return report.to_dict()


def probe_cases(dump: Path, fields: Fields, limit: int, construct: Any) -> list[Any]:
    """Rows with a gold answer whose completion the answer checker finds right: the real solutions."""
    from judgecraft.judge.agreement import checker_says_right
    from judgecraft.judge.probe import ProbeCase
    from judgecraft.judge.prompts import question_text
    from judgecraft.scorer import Scorer

    checker = Scorer(construct, components=["correctness"])
    cases = []
    for r in read_records(dump, fields):
        if len(cases) >= limit:
            break
        if r.completion and r.answer is not None and checker_says_right(checker, r.completion, r.answer, r.prompt):
            cases.append(ProbeCase(question_text(r.prompt), r.completion, str(r.answer)))
    return cases


def probe(judge: Any, dump: Path, fields: Fields, tolerance: float, limit: int, shuffles: int | None) -> dict:
    from judgecraft.judge.probe import probe_table, run_probe

    cases = probe_cases(dump, fields, min(limit, 20), judge.construct)
    if not cases:
        console.print("[red]probe: no row has a gold answer and a completion the answer checker finds right")
        raise typer.Exit(2)
    report = run_probe(judge, cases, progress=True)
    console.print(probe_table(report))
    fooled = report["fooled_by"]
    console.print(
        "the judge was fooled by: " + ", ".join(fooled) if fooled else "no attack was graded like a real solution"
    )
    return report


def select_groups(dump: Path, fields: Fields, group_field: str | None) -> tuple[list[Any], list[dict[str, Any]]]:
    from judgecraft.judge.select_sft import group_rows

    columns = [fields.prompt, fields.completion, "completions", *fields.answer, fields.id, group_field or ""]
    rows = list(read_mappings(dump, columns))
    bad = [{"row": r.row, "error": r.error} for r in rows if r.data is None]
    good = [r.data for r in rows if r.data is not None]
    groups = group_rows(good, (fields.prompt,), (fields.completion,), fields.answer, (fields.id,), group_field)
    return groups, bad


def write_selections(dump: Path, out: Path, meta_out: Path | None, groups: list, selections: list, bad: list) -> None:
    _write(out, [s.record for s in selections if s.record is not None])
    if meta_out:
        _write(meta_out, [s.meta() for s in selections] + bad)
    by = {k: sum(s.picked_by == k for s in selections) for k in ("judge", "rules")}
    _table(
        f"select {dump} -> {out}",
        {"prompts": len(groups), "examples": by["judge"] + by["rules"], "picked by judge": by["judge"],
         "picked by rules": by["rules"], "no pick": sum(s.picked is None for s in selections), "bad rows": len(bad)},
    )  # fmt: skip
    console.print(f"{by['judge'] + by['rules']} SFT examples from {len(groups)} prompts ({len(bad)} bad rows)")


def trajectory_rows(dump: Path, fields: Fields) -> tuple[list[Any], list[int], list[dict[str, Any]]]:
    from judgecraft.judge.assemble import trajectory_groups

    groups, rows, bad = [], [], []
    for r in read_mappings(dump, [fields.prompt, "trajectories", *fields.answer, fields.id]):
        if r.data is None:
            bad.append({"row": r.row, "error": r.error})
            continue
        try:
            groups += trajectory_groups([r.data], (fields.prompt,), fields.answer, (fields.id,))
            rows.append(r.row)
        except ValueError as err:
            bad.append({"row": r.row, "error": str(err)})
    return groups, rows, bad


def write_assembled(dump: Path, out: Path, meta_out: Path | None, groups: list, rows: list, results: list, bad: list):
    _write(out, [rec for a in results for rec in a.records])
    if meta_out:
        metas = [{"row": row, **a.meta()} for row, a in zip(rows, results, strict=True)]
        _write(meta_out, metas + bad)
    reasons: dict[str, int] = {}
    for a in results:
        reasons[a.reason] = reasons.get(a.reason, 0) + 1
    examples = sum(len(a.records) for a in results)
    kept = sum(a.kept for a in results)
    _table(
        f"assemble {dump} -> {out}",
        {"questions": len(groups), "kept": kept, "examples": examples, "bad rows": len(bad),
         **{f"  {k}": v for k, v in sorted(reasons.items())}},
    )  # fmt: skip
    console.print(f"{examples} examples from {kept}/{len(groups)} questions kept")
