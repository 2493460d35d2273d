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


def _state_writers() -> set[str]:
    """Functions of etl/state.py that take a warehouse connection: the ones that read or write state."""
    tree = ast.parse((PACKAGE / "state.py").read_text(encoding="utf-8"))
    return {f.name for f in tree.body if isinstance(f, ast.FunctionDef)
            and any(a.arg == "conn" or "Connection" in ast.unparse(a.annotation or ast.Constant(""))
                    for a in f.args.args)}


def _names_used_from(path: Path, module: str, alias: str) -> set[str]:
    """Names `path` takes from `module`: `from module import x` and `alias.x`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == module:
            used.update(a.name for a in node.names)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == alias:
            used.add(node.attr)
    return used


@pytest.mark.parametrize("layer", ["sources", "transform"])
def test_sources_and_transform_use_the_state_codec_never_its_storage(layer):
    writers = _state_writers()
    assert {"ensure_state_tables"} <= writers  # the check sees the storage functions
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        bad = _names_used_from(path, "etl.state", "state") & writers
        assert not bad, f"{path.relative_to(ROOT)} uses {sorted(bad)}: state is stored by the load, in its transaction"


@pytest.mark.parametrize("layer", ["sources", "transform"])
def test_sources_and_transform_never_open_the_warehouse(layer):
    """No warehouse URL, no warehouse module; the only DuckDB they open is an in-memory one (conversions'
    as-of join), and a SQL source opens the connection its mapping names, never ETL_WAREHOUSE_URL."""
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "ETL_WAREHOUSE_URL" not in text and "warehouse_url" not in text, path
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "duckdb.connect":
                assert not node.args and not node.keywords, f"{path}:{node.lineno}: a DuckDB file opened"


def test_every_third_party_import_of_etl_is_a_declared_dependency():
    """pyproject.toml lists what etl/ imports (numpy and urllib3 were once only there by accident)."""
    import re
    import sys
    import tomllib
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    declared = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower().replace("_", "-") for d in specs}
    dists = packages_distributions()
    missing = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                if top in sys.stdlib_module_names or top in ("etl", "__future__"):
                    continue
                provided = {d.lower().replace("_", "-") for d in dists.get(top, [])}
                if top == "airflow" and "apache-airflow" in declared:
                    continue  # the meta package: airflow's modules come from its core, sdk and providers
                if not provided & declared:
                    missing.setdefault(top, str(path.relative_to(ROOT)))
    assert missing == {}, f"imported by etl/ but not declared in pyproject.toml: {missing}"
