"""The package's shape: no import cycles, layers that never point back up, modules of a readable size."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from embedlab.compat import MOVED

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "embedlab"
MAX_LINES = 400
# What each lower part may never import (directly or through anything else): the layers of docs/architecture.md.
FORBIDDEN = {
    "embedlab.models.core": ("embedlab.models.encoder", "embedlab.backends"),
    "embedlab.backends": ("embedlab.models.encoder", "embedlab.models.loading"),
    "embedlab.models": (
        "embedlab.training",
        "embedlab.evaluation",
        "embedlab.index",
        "embedlab.server",
        "embedlab.cli",
    ),
    "embedlab.losses": ("embedlab.training", "embedlab.cli", "embedlab.server"),
    "embedlab.evaluation": ("embedlab.training", "embedlab.server", "embedlab.cli", "embedlab.apps"),
    "embedlab.index": ("embedlab.server", "embedlab.cli", "embedlab.apps", "embedlab.training"),
    "embedlab.apps": ("embedlab.server", "embedlab.cli"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Every embedlab module `path` imports, at any depth of the file (deferred imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` imports the module; `from module import name` the module itself.
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: imported_modules(path, set(files)) for name, path in files.items()}
    for name, imports in graph.items():
        # A package's __init__ runs before any of its modules; a module importing its own package is no edge.
        imports.discard(name)
        imports.difference_update(p for p in list(imports) if name.startswith(p + "."))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_no_import_cycle_anywhere_in_src() -> None:
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("lower", sorted(FORBIDDEN))
def test_lower_layers_never_reach_higher_ones(lower: str) -> None:
    graph = import_graph()
    members = [name for name in graph if name == lower or name.startswith(lower + ".")]
    assert members, f"{lower} is not a module or package"
    for member in members:
        bad = {
            m for m in reachable(graph, member) for high in FORBIDDEN[lower] if m == high or m.startswith(high + ".")
        }
        assert not bad, f"{member} reaches {sorted(bad)}"


def test_no_module_is_longer_than_the_limit() -> None:
    long = {module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


@pytest.mark.parametrize("old", sorted(MOVED))
def test_moved_modules_keep_their_old_import_path(old: str) -> None:
    import importlib

    assert importlib.import_module(old) is importlib.import_module(MOVED[old])


def test_every_model_kind_and_stand_in_is_an_embedder(minilm) -> None:
    import numpy as np

    from embedlab import Embedder, StaticEncoder
    from embedlab.models.two_tower import TwoTowerEncoder
    from tests.fakes import HashingEncoder, LookupEncoder

    static = StaticEncoder(["cat", "dog"], np.eye(2, dtype=np.float32))
    models = [minilm, static, TwoTowerEncoder.from_encoder(minilm), HashingEncoder(), LookupEncoder({"cat": [1.0]})]
    for model in models:
        assert isinstance(model, Embedder), type(model).__name__
        assert model.encode_queries(["cat"]).shape == (1, model.dim)
    assert not isinstance(object(), Embedder)
