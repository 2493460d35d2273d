"""Every DAG imports cleanly, has retries and tags, and one task group per mapping entity."""

from __future__ import annotations

import pytest

from etl.config.loader import load_all
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_one_dag_per_system_with_one_group_per_entity(dagbag):
    for system, cfg in load_all().items():
        dag = dagbag.dags.get(f"{system}_sync")
        assert dag is not None, system
        for entity in cfg.entities:
            ids = {t.task_id for t in dag.tasks if t.task_id.startswith(f"{entity}.")}
            assert ids == {f"{entity}.{s}" for s in ("extract", "transform", "validate", "load")}


def test_retries_tags_and_docs(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags and "etl" in dag.tags
        assert dag.doc_md and dag.max_active_runs == 1
        assert all(t.retries >= 1 for t in dag.tasks), dag.dag_id
