"""The root `judgecraft` app: its own commands plus the lazily imported ones of `LAZY_COMMANDS`."""

from __future__ import annotations

import importlib
import importlib.util

import click
import typer
from rich.console import Console
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
