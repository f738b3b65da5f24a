"""Construct specs: what a reasoning construct looks like and how it is scored, loaded from TOML.

A construct is data, not code: its tags and their nesting, which sections are personas (with the
words of their voice), which tag names the winner, where the final answer lives, the components
it is scored on with every parameter, and the stage profiles that weight them. A user writes a new
construct (four personas, a <plan>/<solve>/<check> scheme) as a TOML file and never touches code.

Loading validates the spec's shape up front, so a broken spec fails with the file, the key and
the problem instead of a KeyError deep inside a reward function in the middle of a training run.
This module knows nothing of the score components: it keeps the raw `[scores.X]` and stage
parameter tables, and `judgecraft.params` checks component names and parameter values against the
components' defaults when a Scorer is built (the same ConstructError, naming the same key).

>>> c = load_construct("pkv")
>>> c.personas, c.winner_tag, c.default_stage
(('pirate', 'knight', 'viking'), 'winner', 'round1')
>>> c.stage("round3").params
{'length': {'optimum': 16000, 'maximum': 128000}}
"""

from __future__ import annotations

import copy
import tomllib
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property, wraps
from pathlib import Path
from typing import Any, TypeVar

BUILTIN_DIR = Path(__file__).parent / "constructs"
FINAL_ANSWER_MODES = ("after_root", "none")


class ConstructError(ValueError):
    """A construct spec is invalid: the message names the file, the key and what is wrong."""

    def __init__(self, source: str, key: str, problem: str):
        super().__init__(f"{source}: [{key}] {problem}")
        self.source, self.key, self.problem = source, key, problem


@dataclass(frozen=True)
class Tag:
    """One tag of a construct."""

    name: str
    parent: str | None = None
    persona: bool = False  # a competing voice: reasoning that is compared with the others
    reasoning: bool = False  # free reasoning text (personas are reasoning too)
    mixed: bool = False  # holds prose beside its child tags (<result> around <winner>)
    winner: bool = False  # its content names the winning persona
    optional: bool = False
    voice: tuple[str, ...] = ()  # words and phrases of this persona's own voice


@dataclass(frozen=True)
class Stage:
    """A training stage: component weights plus parameter overrides (the seed's rounds)."""

    name: str
    weights: dict[str, float]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True, eq=False)
class Construct:
    """A validated construct spec. Build with `load_construct`."""

    name: str
    description: str
    root: str
    tags: tuple[Tag, ...]
    final_answer: str
    components: tuple[str, ...]
    params: dict[str, dict[str, Any]]  # the [scores.X] tables as written; judgecraft.params adds defaults
    stages: dict[str, Stage]
    default_stage: str
    system_prompt: str = ""
    prefill: str = ""
    judge: dict[str, Any] = field(default_factory=dict)
    source: str = "<memory>"

    @cached_property
    def tag_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tags)

    @cached_property
    def personas(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tags if t.persona)

    @cached_property
    def reasoning_sections(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tags if t.reasoning or t.persona)

    @cached_property
    def winner_tag(self) -> str | None:
        return next((t.name for t in self.tags if t.winner), None)

    def tag(self, name: str) -> Tag:
        return self._by_name[name]

    def children(self, name: str) -> tuple[str, ...]:
        return self._children[name]

    def ancestors(self, name: str) -> tuple[str, ...]:
        """Expected ancestors of a tag, nearest first."""
        return self._ancestors[name]

    @cached_property
    def _children(self) -> dict[str, tuple[str, ...]]:
        return {t.name: tuple(c.name for c in self.tags if c.parent == t.name) for t in self.tags}

    @cached_property
    def _ancestors(self) -> dict[str, tuple[str, ...]]:
        out = {}
        for t in self.tags:
            chain, parent = [], t.parent
            while parent is not None:
                chain.append(parent)
                parent = self._by_name[parent].parent
            out[t.name] = tuple(chain)
        return out

    @cached_property
    def _by_name(self) -> dict[str, Tag]:
        return {t.name: t for t in self.tags}

    def stage(self, name: str | None) -> Stage:
        name = name or self.default_stage
        if name not in self.stages:
            raise ValueError(f"construct {self.name!r} has no stage {name!r}; stages: {sorted(self.stages)}")
        return self.stages[name]

    def params_for(self, stage: str | None) -> dict[str, dict[str, Any]]:
        """The spec's own parameter tables with the stage's overrides applied (components' defaults not merged in).

        `judgecraft.params.component_params` gives the full, checked parameters a Scorer uses.
        """
        merged = copy.deepcopy(self.params)
        for component, overrides in self.stage(stage).params.items():
            merged.setdefault(component, {}).update(overrides)
        return merged


T = TypeVar("T")


def per_construct(compute: Callable[[Construct], T]) -> Callable[[Construct], T]:
    """`compute(construct)` worked out once per Construct object and forgotten with it.

    For what the parser and the scores derive from a construct alone (a parse plan, voice stems):
    a Construct compares by identity, so a user's edited copy is a new key, and a dropped one
    takes its entries with it (weak keys).
    """
    known: weakref.WeakKeyDictionary[Construct, T] = weakref.WeakKeyDictionary()

    @wraps(compute)
    def cached(construct: Construct) -> T:
        try:
            return known[construct]
        except KeyError:
            value = known[construct] = compute(construct)
            return value

    return cached


def builtin_constructs() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def load_construct(spec: str | Path | Construct) -> Construct:
    """Load a construct by built-in name ("pkv", "think"), by path to a TOML file, or pass one through.

    >>> load_construct("think").tag_names
    ('think',)
    >>> load_construct("no-such-construct")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    judgecraft.construct.ConstructError: no-such-construct: [name] no built-in construct 'no-such-construct'; ...
    """
    if isinstance(spec, Construct):
        return spec
    return _load_cached(str(spec))


@cache
def _load_cached(spec: str) -> Construct:
    path = Path(spec)
    if not path.suffix and not path.exists():
        path = BUILTIN_DIR / f"{spec}.toml"
        if not path.exists():
            raise ConstructError(spec, "name", f"no built-in construct {spec!r}; built-in: {builtin_constructs()}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConstructError(str(path), "file", "does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConstructError(str(path), "toml", f"is not valid TOML: {err}") from None
    return construct_from_dict(raw, source=str(path))


def construct_from_dict(raw: dict[str, Any], source: str = "<memory>") -> Construct:
    """Validate a parsed spec's shape and build a Construct; every error names the offending key."""

    def fail(key: str, problem: str) -> ConstructError:
        return ConstructError(source, key, problem)

    def typed(key: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            raise fail(key, f"must be {what}, got {type(value).__name__} {value!r}")
        return value

    known = {
        "name", "description", "root", "final_answer", "system_prompt", "prefill",
        "tags", "components", "scores", "stages", "default_stage", "judge",
    }  # fmt: skip
    for key in raw:
        if key not in known:
            raise fail(key, f"unknown key; expected one of {sorted(known)}")
    for key in ("name", "root", "tags", "components", "stages"):
        if key not in raw:
            raise fail(key, "is required")

    name = typed("name", raw["name"], str, "a string")
    tags = _build_tags(raw["tags"], fail, typed)
    tag_names = [t.name for t in tags]
    root = typed("root", raw["root"], str, "a string")
    if root not in tag_names:
        raise fail("root", f"{root!r} is not one of the tags {tag_names}")
    if tags[0].name != root or tags[0].parent is not None:
        raise fail("tags", f"the first tag must be the root {root!r}, with no parent")
    for t in tags[1:]:
        if t.parent is None:
            raise fail(f"tags.{t.name}.parent", "is required for every tag but the root")
        if t.parent not in tag_names[: tag_names.index(t.name)]:
            raise fail(f"tags.{t.name}.parent", f"{t.parent!r} must be a tag listed before {t.name!r}")
    if sum(t.winner for t in tags) > 1:
        raise fail("tags", "at most one tag may have winner = true")

    final_answer = typed("final_answer", raw.get("final_answer", "after_root"), str, "a string")
    if final_answer not in FINAL_ANSWER_MODES:
        raise fail("final_answer", f"must be one of {FINAL_ANSWER_MODES}, got {final_answer!r}")

    components = typed("components", raw["components"], list, "a list of component names")
    for comp in components:
        typed("components", comp, str, "a list of component names")

    params = _build_params(raw.get("scores", {}), components, fail, typed)
    stages = _build_stages(raw["stages"], components, fail, typed)
    default_stage = typed("default_stage", raw.get("default_stage", next(iter(stages))), str, "a string")
    if default_stage not in stages:
        raise fail("default_stage", f"{default_stage!r} is not one of the stages {sorted(stages)}")

    return Construct(
        name=name,
        description=typed("description", raw.get("description", ""), str, "a string"),
        root=root,
        tags=tuple(tags),
        final_answer=final_answer,
        components=tuple(components),
        params=params,
        stages=stages,
        default_stage=default_stage,
        system_prompt=typed("system_prompt", raw.get("system_prompt", ""), str, "a string"),
        prefill=typed("prefill", raw.get("prefill", ""), str, "a string"),
        judge=typed("judge", raw.get("judge", {}), dict, "a table"),
        source=source,
    )


_TAG_KEYS = {"name", "parent", "persona", "reasoning", "mixed", "winner", "optional", "voice"}


def _build_tags(raw_tags: Any, fail, typed) -> list[Tag]:
    typed("tags", raw_tags, list, "an array of tables ([[tags]])")
    if not raw_tags:
        raise fail("tags", "must list at least the root tag")
    tags: list[Tag] = []
    for i, entry in enumerate(raw_tags):
        typed(f"tags[{i}]", entry, dict, "a table")
        tname = typed(f"tags[{i}].name", entry.get("name"), str, "a string")
        if not tname.replace("_", "").replace("-", "").isalnum() or not tname[0].isalpha():
            raise fail(f"tags.{tname}.name", "must start with a letter and hold only letters, digits, - and _")
        tname = tname.lower()
        if any(t.name == tname for t in tags):
            raise fail(f"tags.{tname}", "is listed twice")
        for key in entry:
            if key not in _TAG_KEYS:
                raise fail(f"tags.{tname}.{key}", f"unknown key; expected one of {sorted(_TAG_KEYS)}")
        flags = {}
        for flag in ("persona", "reasoning", "mixed", "winner", "optional"):
            flags[flag] = typed(f"tags.{tname}.{flag}", entry.get(flag, False), bool, "true or false")
        voice = typed(f"tags.{tname}.voice", entry.get("voice", []), list, "a list of strings")
        for word in voice:
            typed(f"tags.{tname}.voice", word, str, "a list of strings")
        parent = entry.get("parent")
        if parent is not None:
            parent = typed(f"tags.{tname}.parent", parent, str, "a string").lower()
        tags.append(Tag(name=tname, parent=parent, voice=tuple(w.lower() for w in voice), **flags))
    return tags


def _build_params(raw_scores: Any, components: list[str], fail, typed) -> dict[str, dict[str, Any]]:
    """The spec's [scores.X] tables as written (judgecraft.params checks them against the components)."""
    typed("scores", raw_scores, dict, "a table")
    params: dict[str, dict[str, Any]] = {}
    for comp, given in raw_scores.items():
        if comp not in components:
            raise fail(f"scores.{comp}", f"is not a component of this construct {components}")
        params[comp] = copy.deepcopy(typed(f"scores.{comp}", given, dict, "a table"))
    return params


def _build_stages(raw_stages, components, fail, typed) -> dict[str, Stage]:
    typed("stages", raw_stages, dict, "a table of stage tables")
    if not raw_stages:
        raise fail("stages", "must define at least one stage")
    stages: dict[str, Stage] = {}
    for sname, entry in raw_stages.items():
        typed(f"stages.{sname}", entry, dict, "a table")
        for key in entry:
            if key not in ("weights", "params", "description"):
                raise fail(f"stages.{sname}.{key}", "unknown key; expected weights, params or description")
        weights = typed(f"stages.{sname}.weights", entry.get("weights"), dict, "a table of component = weight")
        for comp, w in weights.items():
            if comp not in components:
                raise fail(f"stages.{sname}.weights.{comp}", f"is not a component of this construct {components}")
            typed(f"stages.{sname}.weights.{comp}", w, int | float, "a number")
        overrides = typed(f"stages.{sname}.params", entry.get("params", {}), dict, "a table")
        stage_params = {}
        for comp, given in overrides.items():
            if comp not in components:
                raise fail(f"stages.{sname}.params.{comp}", f"is not a component of this construct {components}")
            stage_params[comp] = copy.deepcopy(typed(f"stages.{sname}.params.{comp}", given, dict, "a table"))
        stages[sname] = Stage(
            name=sname,
            weights={k: float(v) for k, v in weights.items()},
            params=stage_params,
            description=typed(f"stages.{sname}.description", entry.get("description", ""), str, "a string"),
        )
    return stages
