"""`make demo` runs DAGs in-process (demo/dag_runs.py); their task logs must still be where the Airflow UI
reads them. Read back through Airflow's own log reader (what the api-server serves to the UI)."""

from __future__ import annotations

import pytest

from tests.conftest import CRM_TOKEN

pytestmark = pytest.mark.airflow


def _events(dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.log.log_reader import TaskLogReader
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id).one()
        chunks, _ = TaskLogReader().read_log_chunks(ti, try_number, {})
        return [getattr(line, "event", str(line)) for line in chunks]


def _last_run(dag_id: str):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id).order_by(DagRun.id.desc()).first()
        return run.run_id, run.state


def test_in_process_runs_leave_task_logs_the_ui_can_read(tmp_path, monkeypatch):
    from demo.dag_runs import DagRunner
    from demo.process import start_demo_server

    monkeypatch.setenv("ETL_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'logs.duckdb'}")
    runner = DagRunner(tmp_path / "airflow.log")
    with start_demo_server("crm", seed=5, scale=0.05, token=CRM_TOKEN) as srv:
        monkeypatch.setenv("AIRFLOW_CONN_CRM_API", f"http://:{CRM_TOKEN}@{srv.url.removeprefix('http://')}")
        assert runner.run("crm_sync", tmp_path / "ok.log") == "success"
        run_id, _ = _last_run("crm_sync")
        events = _events("crm_sync", run_id, "contacts")
        assert any(e.startswith("crm.contacts load: extracted ") for e in events), events
        assert any(e == "Task instance in success state" for e in events), events

        monkeypatch.setenv("AIRFLOW_CONN_CRM_API", f"http://:wrong-token@{srv.url.removeprefix('http://')}")
        assert runner.run("crm_sync", tmp_path / "failed.log") == "failed"
    run_id, _ = _last_run("crm_sync")
    failed = "\n".join(_events("crm_sync", run_id, "deals"))
    assert "Task failed with exception" in failed and "401" in failed and "wrong-token" not in failed
