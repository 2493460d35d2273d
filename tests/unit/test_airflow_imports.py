"""Airflow 3 names only: the product imports nothing Airflow has deprecated (such imports print a warning
into every task log), checked on the source and by running the code paths with the warnings as errors."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# Deprecated in Airflow 3 in favour of airflow.sdk (DAG, task, timetables, exceptions, hooks, assets...)
DEPRECATED = ("airflow.exceptions", "airflow.timetables", "airflow.models.dag", "airflow.decorators",
              "airflow.datasets", "airflow.operators", "airflow.sensors", "airflow.hooks", "airflow.models.param",
              "airflow.utils.task_group", "airflow.models.baseoperator", "airflow.utils.context")


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)


def test_no_deprecated_airflow_module_is_imported():
    found = [f"{path.relative_to(ROOT)}:{line}: {module}"
             for folder in ("etl", "dags") for path in sorted((ROOT / folder).rglob("*.py"))
             for line, module in _imports(path) if any(module == d or module.startswith(d + ".") for d in DEPRECATED)]
    assert found == []


@pytest.mark.timeout(600)
def test_dags_and_task_failure_paths_print_no_deprecation_warning(tmp_path):
    code = """
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import AirflowFailException
bag = DagBag(dag_folder=DAGS)
assert not bag.import_errors, bag.import_errors
from etl.orchestration import callables
from etl.push import tasks
from etl.ops import freshness_task
try:
    callables.config_error("x.yml:1: broken")
except AirflowFailException:
    pass
else:
    raise SystemExit("config_error did not fail the task")
from etl.config.loader import MappingError
def broken():
    raise MappingError("x.yml:1: broken")
try:
    callables.fail_fast(broken)()
except AirflowFailException:
    pass
else:
    raise SystemExit("a permanent error did not fail the task")
"""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c",
                           f"DAGS = {str(ROOT / 'dags')!r}\n{code}"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
