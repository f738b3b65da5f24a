"""The `judgecraft` command line: score dumps, validate construct specs, explain one completion's score.

Commands from other parts of judgecraft are registered lazily in `LAZY_COMMANDS` (name -> module and
attribute, a typer function, a typer app or a click command): their modules are imported only when
that command runs (or for --help), so `judgecraft score` never imports vLLM or torch. Registering a
new command is one line in that table. This package's own commands live one per module (`score`,
`explain`, `validate`) and register themselves on `app` (`judgecraft.cli.root`).
"""

from judgecraft.cli import explain, score, validate  # noqa: F401  (each registers its command on app)
from judgecraft.cli.root import LAZY_COMMANDS, LazyGroup, _module_exists, app, console, out_console

__all__ = ["LAZY_COMMANDS", "LazyGroup", "_module_exists", "app", "console", "out_console"]
