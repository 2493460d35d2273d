"""The HR sync in-process against the real demo HR server (page numbers, Basic auth, German dates, Y/N),
into DuckDB and PostgreSQL: full load, 5% changed employees, then nothing; and OA approvers match HR people.

Expected counts come from the server's own stats endpoint, not from the mappings.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

from etl.config.loader import load_system, mappings_dir
from etl.steps import RunContext, run_entity
from tests.conftest import reset_pg
from tests.helpers.pipeline import sync_system
from tests.helpers.warehouse import assert_invariant, rows, runs, table_snapshot

USER, PASSWORD = "hr", "hr-test-secret"
ENTITIES = ("employees", "departments", "jobs", "job_history", "locations")


@pytest.fixture
def hr_server(monkeypatch):
    from demo.process import start_demo_server

    with start_demo_server("hr", user=USER, password=PASSWORD) as srv:
        monkeypatch.setenv("AIRFLOW_CONN_HR_API", f"http://{USER}:{PASSWORD}@{srv.url.removeprefix('http://')}")
        yield srv


def sync_all(url: str, run_id: str) -> dict:
    return sync_system("hr", url, run_id)


def test_full_incremental_and_idle_runs_on_both_warehouses(hr_server, tmp_duckdb_url, pg_url):
    reset_pg(pg_url)
    warehouses = {"duckdb": tmp_duckdb_url, "postgres": pg_url}
    counts = hr_server.admin("stats")["counts"]

    for url in warehouses.values():
        sync_all(url, "hr-1")
        first = runs(url, "hr-1")
        assert set(first) == set(ENTITIES)
        for entity, run in first.items():
            assert run["status"] == "success", run
            # Oracle's HR sample is clean: nothing filtered or quarantined, every row inserted.
            assert run["extracted"] == counts[entity] and run["inserted"] == counts[entity], (entity, run)
            assert run["filtered"] == 0 and run["quarantined"] == 0
            assert_invariant(run)
            assert rows(url, f"SELECT count(*) FROM stg_hr__{entity}") == [(counts[entity],)]
        # Typed from the API's spellings: "17.06.2013", "Y"/"N", "2013-06-17 09:00:00+02:00".
        king = rows(url, "SELECT person_email, hire_date, active, last_modified, user_name "
                         "FROM stg_hr__employees WHERE employee_id = 100")
        assert king == [("steven.king@hr.example", dt.date(2013, 6, 17), True, dt.datetime(2013, 6, 17, 7, 0),
                         "SKING")]
        assert rows(url, "SELECT count(*) FROM stg_hr__departments WHERE NOT active") == [(16,)]
        assert rows(url, "SELECT start_date, end_date FROM stg_hr__job_history WHERE employee_id = 101 "
                         "ORDER BY start_date LIMIT 1") == [(dt.date(2007, 9, 21), dt.date(2011, 10, 27))]
        assert first["employees"]["watermark_to"] == "2018-04-21 09:00:00+02:00"

    for table in (f"stg_hr__{e}" for e in ENTITIES):
        duck, pg = (table_snapshot(warehouses[w], table) for w in ("duckdb", "postgres"))
        assert duck == pg, table

    changed = hr_server.admin("mutate", {"fraction": 0.05, "seed": 3})["mutated"]
    assert len(changed) == 5
    for url in warehouses.values():
        sync_all(url, "hr-2")
        second = runs(url, "hr-2")
        assert second["employees"]["extracted"] == len(changed) == second["employees"]["updated"]
        assert all(second[e]["extracted"] == 0 for e in ENTITIES if e != "employees"), second
        loaded = {r[0] for r in rows(url, "SELECT employee_id FROM stg_hr__employees WHERE _run_id = 'hr-2'")}
        assert loaded == set(changed)

        sync_all(url, "hr-3")
        assert all(r["extracted"] == 0 and r["updated"] == 0 for r in runs(url, "hr-3").values())


def test_oa_approvers_are_hr_employees(hr_server, tmp_duckdb_url):
    """The point of person_email: every approver and assignee in an OA drop is found in HR."""
    from demo.oa_files import build_drop

    sync_all(tmp_duckdb_url, "hr-join")
    people = {r[0] for r in rows(tmp_duckdb_url, "SELECT person_email FROM stg_hr__employees")}
    _, approvals = build_drop(seed=42, batch=1)["approvals_1.csv"]
    emails = {a["approver_email"].lower() for a in approvals}
    assert len(emails) > 5 and emails <= people


def test_wrong_password_fails_loudly_and_loads_nothing(hr_server, tmp_duckdb_url, monkeypatch):
    host = os.environ["AIRFLOW_CONN_HR_API"].rsplit("@", 1)[1]
    monkeypatch.setenv("AIRFLOW_CONN_HR_API", f"http://{USER}:wrong@{host}")
    entity = load_system(mappings_dir() / "hr").entities["jobs"]
    with pytest.raises(Exception, match="401"):
        run_entity(entity, RunContext(run_id="hr-bad", warehouse_url=tmp_duckdb_url))
    assert runs(tmp_duckdb_url, "hr-bad")["jobs"]["status"] == "failed"
    assert rows(tmp_duckdb_url, "SELECT count(*) FROM etl_state") == [(0,)]
