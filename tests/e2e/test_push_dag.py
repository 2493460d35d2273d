"""Airflow runs `push_crm_customers` for real (dag.test) into the demo OA: a dry run that sends nothing,
the first push, a change, then an idle run that sends zero write requests (counted by the OA)."""

from __future__ import annotations

import pytest

from tests.conftest import project_dagbag
from tests.helpers.push import execute, oa_server, put_table, target_records, writes
from tests.helpers.warehouse import rows
from tests.integration.test_push_rest import COMPANY_TYPES, companies

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import initdb

    initdb()


def test_push_dag_dry_run_then_push_then_change_then_idle(airflow_db, tmp_path, monkeypatch):
    url = f"duckdb:///{tmp_path / 'push.duckdb'}"
    monkeypatch.setenv("ETL_WAREHOUSE_URL", url)
    put_table(url, "stg_crm__companies", companies(), COMPANY_TYPES)
    bag = project_dagbag()
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["push_crm_customers"]
    assert dag.max_active_runs == 1 and "push" in dag.tags
    with oa_server() as srv:
        monkeypatch.setenv("AIRFLOW_CONN_OA_API", f"http://:test-oa-token@{srv.url.removeprefix('http://')}")
        dry = dag.test(run_conf={"dry_run": True})
        assert dry.state == "success" and writes(srv) == 0
        assert rows(url, "SELECT status, created FROM etl_push_runs WHERE run_id = :r", r=dry.run_id) == [
            ("dry_run", 20)]  # a dry run cannot know the OA will refuse C-5

        push = {"dry_run": False}  # dag.test() keeps the previous run's conf in the DAG's params otherwise
        first = dag.test(run_conf=push)
        assert first.state == "success" and len(target_records(srv, "customers")) == 19
        execute(url, "UPDATE stg_crm__companies SET city = 'Hamburg' WHERE id = '7'")
        second = dag.test(run_conf=push)
        assert rows(url, "SELECT updated, unchanged, rejected FROM etl_push_runs WHERE run_id = :r",
                    r=second.run_id) == [(1, 18, 1)]
        assert target_records(srv, "customers")["C-7"]["address"] == "Hamburg, Germany"
        before = writes(srv)
        third = dag.test(run_conf=push)
        assert third.state == "success" and writes(srv) == before
    for run in (first, second, third):
        [(status, selected, accounted)] = rows(
            url, "SELECT status, selected, created + updated + unchanged + rejected FROM etl_push_runs "
                 "WHERE run_id = :r", r=run.run_id)
        assert status == "success" and selected == accounted == 20
