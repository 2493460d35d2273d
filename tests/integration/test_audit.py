"""Audit rows on a real DuckDB file: a run killed outright is closed by the next one, which resumes
from the same watermark; a failure records its error."""

from __future__ import annotations

from etl import state
from etl.load import audit
from tests.helpers.warehouse import rows


def test_killed_run_is_marked_abandoned_and_next_run_starts_from_same_watermark(tmp_duckdb_url):
    with audit.transaction(tmp_duckdb_url) as conn:
        audit.ensure_control_tables(conn)
        state.write_watermark(conn, "crm_sync", "contacts", "2024-01-01T00:00:00Z", "run-0")
    assert audit.start_run("run-1", "crm_sync", "contacts", tmp_duckdb_url) == "2024-01-01T00:00:00Z"
    # run-1's process dies here: no failure handler ran, its row still says running
    assert audit.start_run("run-2", "crm_sync", "contacts", tmp_duckdb_url) == "2024-01-01T00:00:00Z"
    status = dict(rows(tmp_duckdb_url, "SELECT run_id, status FROM etl_runs"))
    assert status == {"run-1": "failed", "run-2": "running"}
    (error,), = rows(tmp_duckdb_url, "SELECT error FROM etl_runs WHERE run_id = 'run-1'")
    assert error.startswith("abandoned") and "run-2" in error


def test_other_entities_running_rows_are_left_alone(tmp_duckdb_url):
    audit.start_run("run-1", "crm_sync", "contacts", tmp_duckdb_url)
    audit.start_run("run-1", "crm_sync", "deals", tmp_duckdb_url)
    audit.start_run("run-2", "crm_sync", "contacts", tmp_duckdb_url)
    status = {(r, e): s for r, e, s in rows(tmp_duckdb_url, "SELECT run_id, entity, status FROM etl_runs")}
    assert status[("run-1", "deals")] == "running"


def test_mark_failed_records_the_error(tmp_duckdb_url):
    audit.start_run("run-1", "crm_sync", "contacts", tmp_duckdb_url)
    audit.mark_failed("run-1", "crm_sync", "contacts", "extract failed: HttpError: 401", tmp_duckdb_url)
    assert rows(tmp_duckdb_url, "SELECT status, error FROM etl_runs") == [("failed", "extract failed: HttpError: 401")]
