"""Options shared by the commands, how their text is read, and how numbers are shown."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer


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


ConstructOpt = Annotated[str, typer.Option("--construct", "-c", help="built-in construct name or path to a TOML spec")]
StageOpt = Annotated[str | None, typer.Option("--stage", "-s", help="stage (pkv: round1|round2|round3)")]
WeightsOpt = Annotated[
    str | None, typer.Option("--weights", help="component weights over the stage's: tags=1,structure=0.5")
]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", help="component parameter: length.unit=words")]
