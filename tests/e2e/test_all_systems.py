"""Airflow runs all four sync DAGs and `warehouse_models` against the demo systems, into DuckDB and into
PostgreSQL: counts equal the datasets' own counts minus what was filtered or quarantined (with reasons),
every crosswalk match is explained by a rule, and a second round loads nothing new."""

from __future__ import annotations

import contextlib

import pytest

from demo import sources
from tests.conftest import project_dagbag, reset_pg
from tests.helpers.warehouse import assert_invariant, rows, runs

pytestmark = pytest.mark.airflow

SYNC_DAGS = ("crm_sync", "erp_sync", "hr_sync", "oa_sync")
# The datasets' own record counts (Northwind + the demo ERP's additions; Oracle HR sample).
SOURCE_COUNTS = {
    ("erp_sync", "customers"): 91, ("erp_sync", "products"): 77, ("erp_sync", "orders"): 830,
    ("erp_sync", "order_lines"): 2155, ("erp_sync", "invoices"): 809, ("erp_sync", "sales_reps"): 9,
    ("erp_sync", "fx_rates"): 2716, ("hr_sync", "employees"): 107, ("hr_sync", "departments"): 27,
    ("hr_sync", "jobs"): 19, ("hr_sync", "job_history"): 10, ("hr_sync", "locations"): 23,
    ("oa_sync", "purchase_requests"): 70, ("oa_sync", "purchase_request_lines"): 308,
}


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import initdb

    initdb()


def _dags() -> dict:
    bag = project_dagbag()
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def _audit(url: str, dag_runs: dict) -> dict[tuple[str, str], dict]:
    out = {}
    for dag_id, run in dag_runs.items():
        for entity, row in runs(url, run.run_id).items():
            out[(dag_id, entity)] = row
    return out


def _round(dags: dict) -> dict:
    result = {dag_id: dags[dag_id].test() for dag_id in SYNC_DAGS}
    assert {d: r.state for d, r in result.items()} == {d: "success" for d in SYNC_DAGS}
    return result


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_all_systems_through_airflow(backend, airflow_db, tmp_path, monkeypatch, request):
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")
        reset_pg(url)
    else:
        url = f"duckdb:///{tmp_path / 'all.duckdb'}"
    monkeypatch.setenv("ETL_WAREHOUSE_URL", url)
    monkeypatch.setenv("ETL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DEMO_SCALE", "0.1")
    dags = _dags()
    with contextlib.ExitStack() as stack:
        for system in ("crm", "erp", "hr", "oa"):
            for key, value in stack.enter_context(sources.start(system, tmp_path)).items():
                monkeypatch.setenv(key, value)
        first = _audit(url, _round(dags))
        for key, expected in SOURCE_COUNTS.items():
            assert first[key]["extracted"] == expected, key
        for key, run in first.items():
            assert run["status"] == "success", key
            assert_invariant(run)
            assert run["updated"] == 0, key
            loaded = rows(url, f"SELECT count(*) FROM stg_{key[0].removesuffix('_sync')}__{key[1]}")[0][0]
            assert loaded == run["inserted"], key
        assert first[("erp_sync", "orders")]["quarantined"] == 5
        reasons = rows(url, "SELECT DISTINCT reason FROM etl_quarantine WHERE entity = 'orders'")
        assert all(r[0].startswith("no USD rate for BRL on ") for r in reasons), reasons

        assert dags["warehouse_models"].test().state == "success"
        for table in ("xwalk_customer", "xwalk_person"):
            assert rows(url, f"SELECT count(*) FROM {table} WHERE rule IS NULL OR confidence IS NULL") == [(0,)]
        assert rows(url, "SELECT count(*) FROM xwalk_person")[0][0] > 0
        assert rows(url, "SELECT count(*) FROM mart_customer_360")[0][0] > 0

        second = _audit(url, _round(dags))
        for key, run in second.items():
            assert run["inserted"] == 0 and run["updated"] == 0, (key, run)
            assert_invariant(run)
