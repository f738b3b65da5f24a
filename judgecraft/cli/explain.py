"""`judgecraft explain`: why one completion scored what it did, every component and the spans found."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from judgecraft.cli.options import ConstructOpt, StageOpt, WeightsOpt, _fmt, parse_weights
from judgecraft.cli.root import app, out_console


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
