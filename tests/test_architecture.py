"""The package's shape: imports go one way (no cycle anywhere in judgecraft/), and the core imports at the top.

The import graph is read from the source (the AST of every module), with the imports inside
functions as well as those at module level, so a cycle hidden behind a function-level import is
still a cycle. Imports under `if TYPE_CHECKING:` never run and are left out. The core (what turns
text into a Breakdown) takes no function-level imports at all, but for the optional heavy
dependencies in ALLOWED_LAZY: a reader sees every dependency of a core module at its top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "judgecraft"

# Modules that turn a completion into a Breakdown: construct, parse, the components, the scorer,
# answer checking and the text helpers they share.
CORE = (
    "judgecraft.construct",
    "judgecraft.parse",
    "judgecraft.params",
    "judgecraft.scorer",
    "judgecraft.scores",
    "judgecraft.answer",
    "judgecraft.numbers",
    "judgecraft.traces",
    "judgecraft.text",
)

# Function-level imports the core may keep, each with the reason. Only optional heavy dependencies.
ALLOWED_LAZY = {
    # A tokenizer is needed only for length in tokens; transformers takes seconds to import.
    ("judgecraft.scorer", "transformers"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_core(module: str) -> bool:
    return any(module == c or module.startswith(c + ".") for c in CORE)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(module: str) -> Iterator[tuple[str, bool, int]]:
    """(imported module, inside a function, line) for every import that can run, TYPE_CHECKING left out."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[str, bool, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    yield from walk(sub, in_function)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, in_function, child.lineno
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    submodule = f"{base}.{alias.name}"
                    yield (submodule if submodule in MODULES else base), in_function, child.lineno
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from walk(child, nested)

    yield from walk(tree, False)


def import_graph() -> dict[str, set[str]]:
    """judgecraft module -> the judgecraft modules it imports (at module level or inside functions)."""
    return {m: {target for target, _, _ in imports(m) if target in MODULES and target != m} for m in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert "judgecraft.parse" in graph["judgecraft.scorer"]
    assert "judgecraft.scores.base" in graph["judgecraft.scores"]
    assert len(MODULES) > 40 and all(m.startswith("judgecraft") for m in MODULES)


def test_the_package_has_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycles in judgecraft/:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_core_imports_everything_at_module_level():
    lazy = [
        f"{module}:{line} imports {target}"
        for module in MODULES
        if is_core(module)
        for target, in_function, line in imports(module)
        if in_function and (module, target.split(".")[0]) not in ALLOWED_LAZY
    ]
    assert not lazy, "function-level imports in the core:\n" + "\n".join(lazy)


def test_the_construct_knows_nothing_of_the_components():
    reachable, todo = set(), ["judgecraft.construct"]
    graph = import_graph()
    while todo:
        for target in graph[todo.pop()] - reachable:
            reachable.add(target)
            todo.append(target)
    assert not {m for m in reachable if m.startswith("judgecraft.scores")}, sorted(reachable)


def test_no_component_imports_another():
    """Components share helpers through parse, text, scores.base and scores.verdicts, never through each other."""
    from judgecraft.scores import COMPONENTS

    modules = {c.fn.__module__ for c in COMPONENTS.values()}
    component_modules = {m for m in modules if m.startswith("judgecraft.scores.")}
    graph = import_graph()
    crossing = {m: sorted(graph[m] & component_modules) for m in component_modules if graph[m] & component_modules}
    assert len(component_modules) >= 15 and not crossing, crossing
