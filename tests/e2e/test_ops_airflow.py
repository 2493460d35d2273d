"""What operators see when Airflow runs the DAGs: an alert when a token is refused, the run's note,
the asset events' counts, the data-quality report."""

from __future__ import annotations

import pytest

from tests.conftest import CRM_TOKEN, ROOT
from tests.helpers.receivers import webhook_receiver

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import initdb

    initdb()


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
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
