"""Component parameters: where each value comes from, and the one place that checks them.

A component's parameters are its defaults (the `DEFAULTS` of its module), overridden in turn by
the construct's `[scores.X]` table, the stage's `[stages.S.params.X]` table and the Scorer's
`params=` argument. Every layer is checked the same way, against the defaults: an unknown name or
a value of the wrong type fails with the source and the key, before anything is scored. The
construct module only keeps the raw tables (it knows nothing of the components); the Scorer calls
`component_params` when it is built.

>>> from judgecraft.construct import load_construct
>>> pkv = load_construct("pkv")
>>> round3 = component_params(pkv, "round3", {"length": {"unit": "words"}})
>>> round3["length"]
{'unit': 'words', 'optimum': 16000, 'maximum': 128000, 'zero_at': 0}
>>> component_params(pkv, None, {"length": {"optimum": "long"}})
Traceback (most recent call last):
...
judgecraft.construct.ConstructError: Scorer(params=...): [params.length.optimum] must be a number, got 'long'
"""

from __future__ import annotations

import copy
from typing import Any

from judgecraft.construct import Construct, ConstructError
from judgecraft.scores import COMPONENTS

OVERRIDES_SOURCE = "Scorer(params=...)"


def check_construct(construct: Construct) -> None:
    """The construct names only registered components, and its parameter tables fit them."""
    source = construct.source
    for comp in construct.components:
        if comp not in COMPONENTS:
            raise ConstructError(source, "components", f"unknown component {comp!r}; known: {sorted(COMPONENTS)}")
    for comp, given in construct.params.items():
        checked(comp, given, source, f"scores.{comp}")
    for stage in construct.stages.values():
        for comp, given in stage.params.items():
            checked(comp, given, source, f"stages.{stage.name}.params.{comp}")


def component_params(
    construct: Construct, stage: str | None, overrides: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Every component's parameters for a stage: defaults < [scores.X] < stage params < `overrides`, all checked."""
    check_construct(construct)
    stage_params = construct.stage(stage).params
    merged = {}
    for comp in construct.components:
        values = copy.deepcopy(COMPONENTS[comp].defaults)
        values.update(copy.deepcopy(construct.params.get(comp, {})))
        values.update(copy.deepcopy(stage_params.get(comp, {})))
        merged[comp] = values
    for comp, given in (overrides or {}).items():
        if comp not in merged:
            problem = f"is not a component of {construct.name!r}: {list(construct.components)}"
            raise ConstructError(OVERRIDES_SOURCE, f"params.{comp}", problem)
        if not isinstance(given, dict):
            raise ConstructError(OVERRIDES_SOURCE, f"params.{comp}", f"must be a dict, got {given!r}")
        merged[comp].update(checked(comp, given, OVERRIDES_SOURCE, f"params.{comp}"))
    return merged


def checked(comp: str, given: dict[str, Any], source: str, where: str) -> dict[str, Any]:
    """`given` when each of its keys is a parameter of `comp` and each value has the default's type."""
    defaults = COMPONENTS[comp].defaults
    for key, value in given.items():
        if key not in defaults:
            problem = f"unknown parameter of {comp}; expected one of {sorted(defaults)}"
            raise ConstructError(source, f"{where}.{key}", problem)
        problem = _type_problem(defaults[key], value)
        if problem:
            raise ConstructError(source, f"{where}.{key}", problem)
    return copy.deepcopy(given)


def _type_problem(want: Any, value: Any) -> str | None:
    """Why `value` cannot stand in for the default `want` (None when it can): numbers for numbers, and so on."""
    if isinstance(want, bool) != isinstance(value, bool):
        return f"must be {type(want).__name__}, got {value!r}"
    if isinstance(want, int | float) and not isinstance(want, bool):
        return None if isinstance(value, int | float) else f"must be a number, got {value!r}"
    if isinstance(want, list) and isinstance(value, list | tuple):
        return None
    if want is not None and not isinstance(value, type(want)):
        return f"must be {type(want).__name__}, got {value!r}"
    return None
