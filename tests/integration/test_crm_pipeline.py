"""The CRM sync in-process against the real demo CRM, into DuckDB and PostgreSQL side by side:
full load, then 1% changes, then nothing; quarantine, audit invariant, no duplicates, same rows."""

from __future__ import annotations

import os

import pytest

from tests.conftest import CRM_TOKEN, reset_pg
from tests.helpers.pipeline import sync_system
from tests.helpers.warehouse import (
    assert_invariant,
    expected_quarantine,
    quarantined_ids,
    rows,
    runs,
    table_snapshot,
)


@pytest.fixture
def fresh_crm():
    from demo.process import start_demo_server

    with start_demo_server("crm", seed=11, scale=0.2, token=CRM_TOKEN) as srv:
        os.environ["AIRFLOW_CONN_CRM_API"] = f"http://:{CRM_TOKEN}@{srv.url.removeprefix('http://')}"
        yield srv


def sync_all(url: str, run_id: str) -> dict:
    return sync_system("crm", url, run_id)


def test_full_incremental_and_idle_runs_on_both_warehouses(fresh_crm, tmp_duckdb_url, pg_url):
    reset_pg(pg_url)
    warehouses = {"duckdb": tmp_duckdb_url, "postgres": pg_url}
    stats = fresh_crm.admin("/_admin/stats")
    dirty = fresh_crm.admin("/_admin/dirty")

    for url in warehouses.values():
        sync_all(url, "run-1")
        first = runs(url, "run-1")
        assert set(first) == {"companies", "contacts", "deals", "owners", "activities", "tickets"}
        for entity, run in first.items():
            assert run["status"] == "success"
            assert run["extracted"] == _count(stats, entity), entity
            assert run["updated"] == 0 and run["unchanged"] == 0
            assert_invariant(run)
        assert quarantined_ids(url, "run-1") == expected_quarantine(dirty)
        assert rows(url, "SELECT count(*) - count(DISTINCT id) FROM stg_crm__contacts") == [(0,)]

    tables = ["stg_crm__companies", "stg_crm__contacts", "stg_crm__deals", "stg_crm__owners"]
    for table in tables:
        assert table_snapshot(warehouses["duckdb"], table) == table_snapshot(warehouses["postgres"], table), table

    changes = fresh_crm.admin("/_admin/mutate", json={"fraction": 0.01, "new": 3})
    for url in warehouses.values():
        sync_all(url, "run-2")
        second = runs(url, "run-2")
        for entity, run in second.items():
            expected = changes["changed"].get(entity, 0) + changes["added"].get(entity, 0)
            assert run["extracted"] == expected, (entity, run)
            assert run["inserted"] + run["quarantined"] + run["filtered"] >= changes["added"].get(entity, 0) - 0
            assert run["unchanged"] == 0, (entity, run)
            assert_invariant(run)
        for entity in ("contacts", "deals"):
            count = rows(url, f"SELECT count(*), count(DISTINCT id) FROM stg_crm__{entity}")[0]
            assert count[0] == count[1]

    for url in warehouses.values():
        sync_all(url, "run-3")
        for entity, run in runs(url, "run-3").items():
            assert run["extracted"] == 0 and run["inserted"] == 0 and run["updated"] == 0, (entity, run)


def _count(stats: dict, entity: str) -> int:
    value = stats[entity]
    return value["total"] if isinstance(value, dict) else value
