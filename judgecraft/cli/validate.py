"""`judgecraft validate`: check a construct spec and show what it defines."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from judgecraft.cli.options import _fmt
from judgecraft.cli.root import app, console, out_console


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
