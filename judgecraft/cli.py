"""The `judgecraft` command line: score dumps, validate construct specs, explain one completion's score.

Commands from other parts of judgecraft are registered lazily in `LAZY_COMMANDS` (name -> module and
attribute, a typer function, a typer app or a click command): their modules are imported only when
that command runs (or for --help), so `judgecraft score` never imports vLLM or torch. Registering a
new command is one line in that table.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

# name -> (module, attribute). The attribute is a typer-decorated-style function, a typer.Typer app or a click command.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "judge": ("judgecraft.judge.commands", "judge_app"),
    "select": ("judgecraft.judge.commands", "select_command"),
    "assemble": ("judgecraft.judge.commands", "assemble_command"),
    "train": ("judgecraft.grpo.commands", "train_command"),
    "report": ("judgecraft.grpo.commands", "report_command"),
    "traces": ("judgecraft.grpo.commands", "traces_command"),
}

console = Console(stderr=True)  # progress and messages; the summary goes to stdout
out_console = Console()


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def _load_command(name: str) -> click.Command:
    module_name, attribute = LAZY_COMMANDS[name]
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as err:
        message = f"judgecraft {name} is unavailable here: {type(err).__name__}: {err}"

        @click.command(name=name, help=f"(unavailable: {err})", context_settings={"ignore_unknown_options": True})
        @click.argument("args", nargs=-1, type=click.UNPROCESSED)
        def unavailable(args: tuple[str, ...]) -> None:
            console.print(message, style="red", markup=False)
            raise SystemExit(1)

        return unavailable
    if isinstance(target, click.Command):
        command = target
    elif isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        holder = typer.Typer()
        holder.command(name=name)(target)
        command = typer.main.get_command(holder)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """The root group: its own commands plus the lazily imported ones of LAZY_COMMANDS."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        own = super().list_commands(ctx)
        lazy = [n for n, (module, _) in LAZY_COMMANDS.items() if n not in own and _module_exists(module)]
        return own + lazy

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in LAZY_COMMANDS and _module_exists(LAZY_COMMANDS[cmd_name][0]):
            command = _load_command(cmd_name)
        return command


app = typer.Typer(
    cls=LazyGroup,
    name="judgecraft",
    no_args_is_help=True,
    add_completion=False,
    help="Score, judge and train on reasoning constructs (pirate / knight / viking competitions, <think> traces).",
)


# ---------------------------------------------------------------- option parsing helpers


def parse_weights(text: str | None) -> dict[str, float] | None:
    """`tags=1,structure=0.5` or a JSON object."""
    if not text:
        return None
    text = text.strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
            return {str(k): float(v) for k, v in data.items()}
        pairs = [p for p in text.split(",") if p.strip()]
        return {k.strip(): float(v) for k, v in (p.split("=", 1) for p in pairs)}
    except (ValueError, AttributeError) as err:
        raise typer.BadParameter(f"expected name=weight,... or a JSON object: {err}", param_hint="--weights") from None


def parse_params(items: list[str] | None) -> dict[str, dict[str, Any]] | None:
    """Repeated `component.key=value` (the value read as JSON when it can be: numbers, true, false)."""
    if not items:
        return None
    params: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        component, dot, key = target.partition(".")
        if not sep or not dot or not component or not key:
            raise typer.BadParameter(f"{item!r}: expected component.key=value", param_hint="--param")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        params.setdefault(component.strip(), {})[key.strip()] = value
    return params


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return (0, 1)
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected i/n, e.g. 0/4", param_hint="--shard") from None
    if not (count >= 1 and 0 <= index < count):
        raise typer.BadParameter(f"{text!r}: need 0 <= i < n", param_hint="--shard")
    return (index, count)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


# ---------------------------------------------------------------- score


ConstructOpt = Annotated[str, typer.Option("--construct", "-c", help="built-in construct name or path to a TOML spec")]
StageOpt = Annotated[str | None, typer.Option("--stage", "-s", help="stage (pkv: round1|round2|round3)")]
WeightsOpt = Annotated[
    str | None, typer.Option("--weights", help="component weights over the stage's: tags=1,structure=0.5")
]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", help="component parameter: length.unit=words")]


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
    answer_timeout: Annotated[float, typer.Option(help="seconds before math-verify is killed for one answer")] = 5.0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="show a progress bar")] = True,
) -> None:
    """Score every row of a dump: one output row per input row (id, row, total, every component, error).

    Resumable: after a crash or kill, run the same command again; it finishes the rest, each row once.
    """
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from judgecraft.construct import ConstructError
    from judgecraft.io import DEFAULT_ANSWER_FIELDS, Fields, detect_format, input_size
    from judgecraft.offline import ResumeMismatch, ScoreConfig, score_dump

    if not dump.is_file():
        raise typer.BadParameter(f"{dump} does not exist", param_hint="DUMP")
    try:
        detect_format(dump)
        if out is None:  # run.a.jsonl -> run.a.scores.jsonl; shard 2/8 -> run.a.scores.shard2of8.jsonl
            tag = ".shard{}of{}".format(*shard.split("/")) if shard and "/" in shard else ""
            out = dump.with_name(f"{dump.stem}.scores{tag}.jsonl")
        detect_format(out)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    answers = tuple(answer_field or DEFAULT_ANSWER_FIELDS)
    fields = Fields(prompt_field, completion_field, answers, id_field, prefill_field)
    config = ScoreConfig(construct, stage, parse_weights(weights), parse_params(param), fields, answer_timeout)
    try:
        config.scorer()
    except (ConstructError, ValueError) as err:
        console.print(str(err), style="red", markup=False)
        raise typer.Exit(2) from None
    workers = workers if workers > 0 else (os.cpu_count() or 1)
    total, unit = input_size(dump)
    columns = [
        TextColumn("[bold]scoring"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, disable=not progress, transient=False) as bar:
        task = bar.add_task("score", total=total, rows=0)

        def on_progress(position: int, rows: int) -> None:
            bar.update(task, completed=position, rows=rows)

        def on_resume(checkpoint: Any) -> None:
            console.print(f"resuming {out}: {checkpoint.written} rows already scored", markup=False)
            bar.update(task, completed=checkpoint.input_offset if unit == "bytes" else checkpoint.rows_read)

        try:
            result = score_dump(
                dump, out, config, workers=workers, shard=parse_shard(shard), chunk_size=chunk_size,
                checkpoint_seconds=checkpoint_seconds, restart=restart, on_progress=on_progress, on_resume=on_resume,
            )  # fmt: skip
        except ResumeMismatch as err:
            console.print(str(err), style="red", markup=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print(f"interrupted: run the same command again to resume {out}", style="yellow", markup=False)
            raise typer.Exit(130) from None
        bar.update(task, completed=total)
    report = result.report()
    print_summary(report, title=f"{dump} -> {out}")
    if summary_json is not None:
        summary_json.parent.mkdir(parents=True, exist_ok=True)
        summary_json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


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


# ---------------------------------------------------------------- validate


@app.command()
def validate(
    spec: Annotated[str, typer.Argument(help="path to a construct TOML, or a built-in name")],
) -> None:
    """Check a construct spec and print what it defines; exit 1 with the spec error."""
    from rich.tree import Tree

    from judgecraft.construct import ConstructError, load_construct
    from judgecraft.scorer import Scorer

    try:
        c = load_construct(spec)
        for stage_name in c.stages:
            Scorer(c, stage=stage_name)
    except (ConstructError, ValueError) as err:
        console.print(f"invalid construct: {err}", style="red", markup=False)
        raise typer.Exit(1) from None
    out_console.print(f"[bold]{escape(c.name)}[/bold]  ({escape(c.source)})")
    if c.description:
        out_console.print(c.description)
    tree = Tree(f"<{c.root}>")
    nodes = {c.root: tree}
    for tag in c.tags[1:]:
        flags = [f for f in ("persona", "reasoning", "mixed", "winner", "optional") if getattr(tag, f)]
        label = f"<{tag.name}>" + (f"  [dim]{', '.join(flags)}" if flags else "")
        if tag.voice:
            label += f"  [dim]voice: {len(tag.voice)} words"
        nodes[tag.name] = nodes[tag.parent or c.root].add(label)
    out_console.print(tree)
    out_console.print(
        f"final answer: {c.final_answer}" + (f"; prefill: {c.prefill!r}" if c.prefill else ""), markup=False
    )
    if c.personas:
        out_console.print(f"personas: {', '.join(c.personas)}; winner tag: {c.winner_tag}")
    stages = Table(title="stages (component weights)", title_justify="left")
    stages.add_column("component")
    for name in c.stages:
        stages.add_column(name + (" *" if name == c.default_stage else ""), justify="right")
    for comp in c.components:
        stages.add_row(comp, *(_fmt(c.stages[s].weights.get(comp), 2) for s in c.stages))
    out_console.print(stages)
    overrides = {s: st.params for s, st in c.stages.items() if st.params}
    if overrides:
        out_console.print(f"stage parameter overrides: {overrides}", markup=False)
    try:
        from judgecraft.strategies import example_completion
    except ImportError:  # hypothesis is a development dependency
        return
    example = example_completion(c)
    bd = Scorer(c).score(example.text, answer=example.answer)
    applies = {k: v for k, v in bd.values().items() if v is not None}
    out_console.print(f"a generated well-formed example scores: {json.dumps(applies)}", markup=False)


# ---------------------------------------------------------------- explain


def _load_row(source: str, row: int | None, id_: str | None, fields: Any) -> tuple[str, Any, Any]:
    """(completion, answer, prompt) from a dump row, a text file, stdin ("-") or the text itself."""
    from judgecraft.io import detect_format, read_records

    if source == "-":
        return sys.stdin.read(), None, None
    path = Path(source)
    if not path.is_file():
        return source, None, None
    try:
        detect_format(path)
    except ValueError:
        return path.read_text(encoding="utf-8", errors="replace"), None, None
    for record in read_records(path, fields):
        if (id_ is not None and str(record.id) == id_) or (id_ is None and record.row == (row or 0)):
            if record.completion is None:
                raise typer.BadParameter(f"row {record.row} (id {record.id!r}) cannot be scored: {record.error}")
            return record.completion, record.answer, record.prompt
    raise typer.BadParameter(f"no row {'with id ' + repr(id_) if id_ is not None else row} in {path}")


@app.command()
def explain(
    source: Annotated[str, typer.Argument(help="a completion: text, a text file, '-' for stdin, or a dump")],
    answer: Annotated[str | None, typer.Option("--answer", "-a", help="gold answer (default: the row's)")] = None,
    construct: ConstructOpt = "pkv",
    stage: StageOpt = None,
    weights: WeightsOpt = None,
    row: Annotated[int | None, typer.Option(help="row of a dump (0-based; default 0)")] = None,
    id_: Annotated[str | None, typer.Option("--id", help="id of a dump row")] = None,
    prefill: Annotated[str | None, typer.Option(help="text the prompt pre-filled before the completion")] = None,
    show_text: Annotated[bool, typer.Option("--text/--no-text", help="print the text with its tags marked")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the breakdown as JSON instead")] = False,
) -> None:
    """Show why one completion scored what it did: every component with its detail, and the spans found."""
    from judgecraft.io import Fields
    from judgecraft.parse import parse
    from judgecraft.scorer import Scorer, prefill_from_prompt

    scorer = Scorer(construct, stage=stage, weights=parse_weights(weights))
    completion, row_answer, prompt = _load_row(source, row, id_, Fields())
    gold = answer if answer is not None else row_answer
    if prefill is None:
        prefill = prefill_from_prompt(prompt, scorer.construct)
    bd = scorer.score(completion, answer=gold, prefill=prefill)
    if as_json:
        out_console.print_json(json.dumps(bd.to_dict(), default=str))
        return
    parsed = parse(completion, scorer.construct, prefill=prefill)
    render_explanation(bd, parsed, gold, show_text)


def render_explanation(bd: Any, parsed: Any, gold: Any, show_text: bool = True) -> None:
    from rich.panel import Panel
    from rich.text import Text

    out_console.print(
        Panel(f"total [bold]{bd.total:.4f}[/bold]   construct {bd.construct}   stage {bd.stage}   gold {gold!r}")
    )
    table = Table(title="components", title_justify="left")
    for column, justify in (("component", "left"), ("value", "right"), ("weight", "right"), ("adds", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("why", overflow="fold")
    for name, comp in bd.components.items():
        adds = comp.value * comp.weight if comp.value is not None and comp.weight else None
        style = "" if comp.weight else "dim"
        why = json.dumps(comp.detail, default=str, ensure_ascii=False)
        table.add_row(name, _fmt(comp.value), _fmt(comp.weight, 2), _fmt(adds), escape(why[:400]), style=style)
    out_console.print(table)

    offset = parsed.prefill_len
    spans = Table(title="sections found (character spans in the completion; negative: in the prefill)",
                  title_justify="left")  # fmt: skip
    for column in ("tag", "#", "content span", "inside", "closed", "starts with"):
        spans.add_column(column)
    for name in parsed.construct.tag_names:
        for i, sec in enumerate(parsed.sections.get(name, [])):
            preview = " ".join(sec.text.split())[:60]
            spans.add_row(f"<{name}>", str(i + 1), f"{sec.start - offset}-{sec.end - offset}", sec.parent or "-",
                          "yes" if sec.closed else "no", escape(preview))  # fmt: skip
    out_console.print(spans)
    problems = {
        "missing": parsed.missing,
        "duplicated": parsed.duplicates,
        "misnested": parsed.misnested,
        "unclosed": parsed.unclosed,
        "out of order": parsed.out_of_order,
        "stray closing tags": parsed.stray_closes,
        "tag format variants": parsed.variants,
        "text before the construct": " ".join(parsed.preamble.split())[:80],
        "tags leaked into the final answer": parsed.leaked,
    }
    for label, value in problems.items():
        if value:
            out_console.print(f"[yellow]{label}:[/yellow] {escape(str(value))}")
    start = parsed.final_answer_start - offset
    final = " ".join(parsed.final_answer.split())
    out_console.print(f"[bold]final answer[/bold] (from {start}): {escape(repr(final[:300]))}")
    for err in bd.errors:
        out_console.print(f"[red]error:[/red] {escape(err)}")
    if show_text:
        text = Text(parsed.text)
        if offset:
            text.stylize("dim italic", 0, offset)
        for ev in parsed.events:
            leaked = ev.start >= parsed.final_answer_start
            text.stylize("bold white on red" if leaked else "bold cyan", ev.start, ev.end)
        text.stylize("green", parsed.final_answer_start, len(parsed.text))
        out_console.print(Panel(text, title="text (prefill dim, tags cyan, leaked tags red, final answer green)"))


if __name__ == "__main__":
    app()
