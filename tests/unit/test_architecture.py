"""The package's shape, checked on its source: no import cycles, sources never reach the load layer,
transform never opens the warehouse, and the product package ships no demo data.

Imports are read with `ast`, including those inside functions: a lazy import is still a dependency,
and a cycle hidden behind one still ties two modules together.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "etl"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The etl modules `path` imports, anywhere in the file (TYPE_CHECKING blocks excepted)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):  # `if TYPE_CHECKING:` imports are for annotations only
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            skip.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {name for name in found if name in modules}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_the_import_graph_reads_real_edges(graph):
    # the checks below are only as good as the graph: it must see the imports we know are there
    assert "etl.load.merge" in graph["etl.steps"]
    assert "etl.sources.files" in graph["etl.load.ledger"]  # a function-level import counts


def test_no_import_cycle_in_etl(graph):
    parents_free = {name: {d for d in deps if not name.startswith(d + ".")} for name, deps in graph.items()}
    try:
        tuple(graphlib.TopologicalSorter(parents_free).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle in etl/: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize(("layer", "forbidden"), [
    ("etl.sources", "etl.load"),  # sources read; whatever commits with the data lives in load/
    ("etl.transform", "etl.load"),  # transform is Arrow in, Arrow out: it never opens the warehouse
    ("etl.state", "etl.load"),
    ("etl.state", "etl.sources"),
])
def test_layers_do_not_reach_where_they_must_not(graph, layer, forbidden):
    for name in graph:
        if name == layer or name.startswith(layer + "."):
            bad = sorted(d for d in _reachable(graph, name) if d == forbidden or d.startswith(forbidden + "."))
            assert not bad, f"{name} reaches {bad}"


def test_merge_does_not_import_the_mapping(graph):
    assert "etl.transform.mapping" not in graph["etl.load.merge"]


def test_the_product_package_holds_no_demo_data():
    assert not (PACKAGE / "demo").exists()
    data = [p for p in PACKAGE.rglob("*") if p.suffix in {".json", ".csv", ".xlsx", ".db", ".sqlite"}]
    assert data == []
