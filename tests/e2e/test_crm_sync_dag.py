"""Airflow runs `crm_sync` for real (dag.test): full load, then the demo CRM changes 1%, then nothing."""

from __future__ import annotations

import os

import pytest

from tests.conftest import CRM_TOKEN, project_dagbag
from tests.helpers.warehouse import assert_invariant, expected_quarantine, quarantined_ids, rows, runs

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import initdb

    initdb()


def _dag(dag_id: str):
    bag = project_dagbag()
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


def test_crm_sync_twice_then_idle(airflow_db, tmp_path, monkeypatch):
    from demo.process import start_demo_server

    url = f"duckdb:///{tmp_path / 'e2e.duckdb'}"
    monkeypatch.setenv("ETL_WAREHOUSE_URL", url)
    with start_demo_server("crm", seed=5, scale=0.1, token=CRM_TOKEN) as srv:
        monkeypatch.setenv("AIRFLOW_CONN_CRM_API", f"http://:{CRM_TOKEN}@{srv.url.removeprefix('http://')}")
        dag = _dag("crm_sync")
        dirty = srv.admin("/_admin/dirty")

        first = dag.test()
        assert first.state == "success"
        audit = runs(url, first.run_id)
        assert len(audit) == 6 and all(r["status"] == "success" for r in audit.values())
        assert all(r["extracted"] > 0 for r in audit.values())
        for run in audit.values():
            assert_invariant(run)
        assert quarantined_ids(url, first.run_id) == expected_quarantine(dirty)

        changes = srv.admin("/_admin/mutate", json={"fraction": 0.01})
        second = dag.test()
        assert second.state == "success"
        for entity, run in runs(url, second.run_id).items():
            assert run["extracted"] == changes["changed"][entity]
            assert_invariant(run)

        third = dag.test()
        assert third.state == "success"
        assert all(r["extracted"] == 0 and r["inserted"] == 0 for r in runs(url, third.run_id).values())

    dupes = rows(url, "SELECT count(*) - count(DISTINCT id) FROM stg_crm__deals")
    assert dupes == [(0,)]


def test_failed_run_is_recorded_and_leaves_data_untouched(airflow_db, tmp_path, monkeypatch):
    """A CRM that refuses the token: the run fails loudly, etl_runs says why, nothing is half-loaded."""
    from demo.process import start_demo_server

    url = f"duckdb:///{tmp_path / 'fail.duckdb'}"
    monkeypatch.setenv("ETL_WAREHOUSE_URL", url)
    with start_demo_server("crm", seed=5, scale=0.05, token=CRM_TOKEN) as srv:
        monkeypatch.setenv("AIRFLOW_CONN_CRM_API", f"http://:wrong-token@{srv.url.removeprefix('http://')}")
        run = _dag("crm_sync").test()
    assert run.state == "failed"
    audit = runs(url, run.run_id)
    assert audit and all(r["status"] == "failed" for r in audit.values())
    assert all("401" in (r["error"] or "") for r in audit.values())
    assert rows(url, "SELECT count(*) FROM etl_state") == [(0,)]
    assert os.path.exists(url.removeprefix("duckdb:///"))
