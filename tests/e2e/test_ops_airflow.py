"""What operators see when Airflow runs the DAGs: an alert when a token is refused, the run's note,
the asset events' counts, the data-quality report."""

from __future__ import annotations

import pytest

from tests.conftest import CRM_TOKEN, project_dagbag
from tests.helpers.receivers import webhook_receiver

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import initdb

    initdb()


def _dag(dag_id: str):
    bag = project_dagbag()
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


def test_a_refused_token_alerts_once_per_entity(airflow_db, tmp_path, monkeypatch):
    from demo.process import start_demo_server

    monkeypatch.setenv("ETL_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'alerts.duckdb'}")
    with start_demo_server("crm", seed=5, scale=0.05, token=CRM_TOKEN) as srv, webhook_receiver() as (host, posts):
        monkeypatch.setenv("AIRFLOW_CONN_CRM_API", f"http://:wrong-token@{srv.url.removeprefix('http://')}")
        monkeypatch.setenv("AIRFLOW_CONN_ETL_ALERT_WEBHOOK", f"http://{host}/hooks/etl")
        run = _dag("crm_sync").test()
    assert run.state == "failed"
    texts = [p["json"]["text"] for p in posts]
    assert texts, "no alert was posted"
    assert any(t.startswith("*[etl] crm_sync failed: contacts*") for t in texts)
    assert all("401" in t and "wrong-token" not in t for t in texts)


def _note(run) -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(DagRun).filter_by(dag_id=run.dag_id, run_id=run.run_id).one().note or ""


def _asset_extras(run) -> dict[str, dict]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.query(AssetEvent).filter_by(source_dag_id=run.dag_id, source_run_id=run.run_id).all()
        return {e.asset.name: dict(e.extra or {}) for e in events}


def test_counts_in_the_note_the_asset_events_and_the_dq_report(airflow_db, tmp_path, monkeypatch):
    from demo.process import start_demo_server
    from tests.helpers.warehouse import runs

    url = f"duckdb:///{tmp_path / 'ops.duckdb'}"
    monkeypatch.setenv("ETL_WAREHOUSE_URL", url)
    monkeypatch.setenv("ETL_REPORTS_DIR", str(tmp_path / "reports"))
    with start_demo_server("crm", seed=5, scale=0.05, token=CRM_TOKEN) as srv:
        monkeypatch.setenv("AIRFLOW_CONN_CRM_API", f"http://:{CRM_TOKEN}@{srv.url.removeprefix('http://')}")
        run = _dag("crm_sync").test()
    assert run.state == "success"
    audit = runs(url, run.run_id)

    note = _note(run)
    lines = note.splitlines()
    assert lines[0].startswith("**6/6 entities ok** · [data-quality report](/etl-reports/crm_sync/")
    assert "| entity | extr | filt | quar | ins | upd | same | watermark |" in lines
    c = audit["contacts"]
    assert (f"| contacts | {c['extracted']:,} | {c['filtered']:,} | {c['quarantined']:,} | {c['inserted']:,} | "
            f"0 | 0 | {c['watermark_to']} |") in lines
    assert max(len(line) for line in lines) < 120  # readable without scrolling

    extras = _asset_extras(run)
    assert set(extras) == {f"stg_crm__{e}" for e in audit}
    assert {k: extras["stg_crm__contacts"][k] for k in ("extracted", "quarantined", "inserted", "watermark_to")} \
        == {k: c[k] for k in ("extracted", "quarantined", "inserted", "watermark_to")}

    report = next((tmp_path / "reports" / "crm_sync").glob("*.html")).read_text()
    assert "expect_column_values_to_match_regex(email)" in report and "personal data masked" in report
    samples = report.split("contacts <small>")[1].split("personal data masked")[1].split("</table>")[0]
    import re

    personal = re.findall(r"&quot;properties\.(?:email|phone)&quot;: &quot;(.*?)&quot;", samples)
    assert personal and set(personal) == {"•••"}


def test_a_failed_run_names_the_entity_and_the_reason_in_its_note(airflow_db, tmp_path, monkeypatch):
    from demo.process import start_demo_server

    monkeypatch.setenv("ETL_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'failed.duckdb'}")
    monkeypatch.setenv("ETL_REPORTS_DIR", str(tmp_path / "reports"))
    with start_demo_server("crm", seed=5, scale=0.05, token=CRM_TOKEN) as srv:
        monkeypatch.setenv("AIRFLOW_CONN_CRM_API", f"http://:wrong-token@{srv.url.removeprefix('http://')}")
        run = _dag("crm_sync").test()
    assert run.state == "failed"
    note = _note(run)
    assert note.startswith("**0/6 entities ok**")
    failures = [line for line in note.splitlines() if line.startswith("**contacts failed:**")]
    assert len(failures) == 1 and "401" in failures[0] and "wrong-token" not in note
