"""`judgecraft score`: a dump in, one scored row out per input row, with a progress bar and a summary."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from judgecraft.cli.options import (
    ConstructOpt,
    ParamOpt,
    StageOpt,
    WeightsOpt,
    _fmt,
    _share,
    parse_params,
    parse_shard,
    parse_weights,
)
from judgecraft.cli.root import app, console, out_console
from judgecraft.rows import DEFAULT_ANSWER_FIELDS, MAX_LINE_BYTES


@app.command()
def score(
    dump: Annotated[Path, typer.Argument(help="JSONL or Parquet dump (prompt, completion, answer, id per row)")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="JSONL or Parquet output (default: DUMP.scores.jsonl)")
    ] = None,
    construct: ConstructOpt = "pkv",
    stage: StageOpt = None,
    weights: WeightsOpt = None,
    param: ParamOpt = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="scoring processes (0: one per core)")] = 1,
    shard: Annotated[str | None, typer.Option(help="score only shard i of n (rows with row % n == i): 0/4")] = None,
    summary_json: Annotated[Path | None, typer.Option("--summary-json", help="write the summary as JSON")] = None,
    restart: Annotated[bool, typer.Option("--restart", help="ignore a checkpoint and start over")] = False,
    prompt_field: Annotated[str, typer.Option(help="prompt column (text or chat messages)")] = "prompt",
    completion_field: Annotated[str, typer.Option(help="completion column (text or chat messages)")] = "completion",
    answer_field: Annotated[
        list[str] | None, typer.Option(help="gold answer column; repeat to try several (default: answer, solution)")
    ] = None,
    id_field: Annotated[str, typer.Option(help="id column (the row number when absent)")] = "id",
    prefill_field: Annotated[str, typer.Option(help="column with an assistant prefill, if any")] = "prefill",
    chunk_size: Annotated[int, typer.Option(help="rows per work unit")] = 256,
    checkpoint_seconds: Annotated[float, typer.Option(help="seconds between durable checkpoints")] = 5.0,
    checkpoint_rows: Annotated[int, typer.Option(help="rows between durable checkpoints (at most)")] = 50_000,
    max_line_bytes: Annotated[int, typer.Option(help="a longer JSONL line is an error row")] = MAX_LINE_BYTES,
    answer_timeout: Annotated[float, typer.Option(help="seconds before math-verify is killed for one answer")] = 5.0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="show a progress bar")] = True,
) -> None:
    """Score every row of a dump: one output row per input row (id, row, total, every component, error).

    Resumable: after a crash or kill, run the same command again; it finishes the rest, each row once.
    One run per output: a second run on the same output exits 2 and names the run that holds it.
    """
    from judgecraft.construct import ConstructError
    from judgecraft.rows import Fields
    from judgecraft.settings import ScoringSettings

    out = _output_path(dump, out, shard)
    answers = tuple(answer_field or DEFAULT_ANSWER_FIELDS)
    fields = Fields(prompt_field, completion_field, answers, id_field, prefill_field)
    settings = ScoringSettings(construct, stage, parse_weights(weights), parse_params(param),
                               answer_timeout=answer_timeout)  # fmt: skip
    try:
        settings.build()
    except (ConstructError, ValueError) as err:
        console.print(str(err), style="red", markup=False)
        raise typer.Exit(2) from None
    options = {
        "workers": workers if workers > 0 else (os.cpu_count() or 1),
        "shard": parse_shard(shard),
        "chunk_size": chunk_size,
        "checkpoint_seconds": checkpoint_seconds,
        "checkpoint_rows": checkpoint_rows,
        "max_line_bytes": max_line_bytes,
        "restart": restart,
    }
    report = _run_with_progress(dump, out, settings, fields, options, progress)
    print_summary(report, title=f"{dump} -> {out}")
    if summary_json is not None:
        summary_json.parent.mkdir(parents=True, exist_ok=True)
        summary_json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _output_path(dump: Path, out: Path | None, shard: str | None) -> Path:
    """The output file: as given, or next to the dump (run.a.jsonl -> run.a.scores[.shard2of8].jsonl)."""
    from judgecraft.io import detect_format

    if not dump.exists() or dump.is_dir():  # a named pipe is fine: the dump is read once, in order
        raise typer.BadParameter(f"{dump} does not exist", param_hint="DUMP")
    try:
        detect_format(dump)
        if out is None:
            tag = ".shard{}of{}".format(*shard.split("/")) if shard and "/" in shard else ""
            out = dump.with_name(f"{dump.stem}.scores{tag}.jsonl")
        detect_format(out)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    return out


def _run_with_progress(
    dump: Path, out: Path, settings: Any, fields: Any, options: dict[str, Any], progress: bool
) -> dict[str, Any]:
    """Run `score_dump` under a progress bar; the errors a user can act on exit 2 (or 130) with a message."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from judgecraft.io import input_size
    from judgecraft.offline import OutputBusy, ResumeMismatch, score_dump

    total, unit = input_size(dump)
    columns = [TextColumn("[bold]scoring"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[rows]} rows"),
               TimeElapsedColumn(), TimeRemainingColumn()]  # fmt: skip
    with Progress(*columns, console=console, disable=not progress, transient=False) as bar:
        task = bar.add_task("score", total=total, rows=0)

        def on_progress(position: int, rows: int) -> None:
            bar.update(task, completed=position, rows=rows)

        def on_resume(checkpoint: Any) -> None:
            console.print(f"resuming {out}: {checkpoint.written} rows already scored", markup=False)
            bar.update(task, completed=checkpoint.input_offset if unit == "bytes" else checkpoint.rows_read)

        try:
            result = score_dump(dump, out, settings, fields=fields, on_progress=on_progress, on_resume=on_resume,
                                **options)  # fmt: skip
        except (ResumeMismatch, OutputBusy) as err:
            console.print(str(err), style="red", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print(f"interrupted: run the same command again to resume {out}", style="yellow", markup=False)
            raise typer.Exit(130) from None
        bar.update(task, completed=total)
    return result.report()


def print_summary(report: dict[str, Any], title: str = "summary") -> None:
    """The end-of-run summary: component means, format, accuracy and what went wrong."""
    out_console.print(title, style="bold", markup=False)
    table = Table()
    table.add_column("component")
    table.add_column("mean", justify="right")
    for name, value in report["means"].items():
        table.add_row(name, _fmt(value))
    out_console.print(table)
    facts = Table(show_header=False, box=None)
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("rows", f"{report['rows']} ({report['scored']} scored, {report['malformed']} malformed)")
    facts.add_row("valid format", _share(report["valid_format"]) + f"  (exact {_share(report['exact_format'])})")
    facts.add_row("accuracy", _share(report["accuracy"]) + f"  of {report['graded']} with a gold answer")
    facts.add_row("judge accuracy", _share(report["judge_accuracy"]) + "  (the <winner> picked a right persona)")
    if report.get("rows_per_second"):
        facts.add_row("speed", f"{report['rows_per_second']:.0f} rows/s ({report['seconds']:.1f} s this run)")
    if report.get("resumed_rows"):
        facts.add_row("resumed", f"{report['resumed_rows']} rows were already done")
    out_console.print(facts)
    if report["error_kinds"]:
        errors = Table(title="rows with errors", title_justify="left")
        errors.add_column("error")
        errors.add_column("rows", justify="right")
        for kind, n in report["error_kinds"].items():
            errors.add_row(escape(kind), str(n))
        out_console.print(errors)
        for example in report["error_examples"][:3]:
            out_console.print(f"  {example}", style="dim", markup=False)
