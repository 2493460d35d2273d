"""Secrets through Airflow (issue 9): a sync DAG whose source echoes the bearer token in an error body
runs under Airflow (`dag.test`); the token appears in no task log line, no XCom and no audit row.

The system is a throw-away mapping folder (`leak`): one REST entity; its server answers the first run
with records and the second with a 400 whose body quotes the Authorization header it received.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import project_dagbag
from tests.helpers.http_server import Reply, serve
from tests.helpers.warehouse import rows

pytestmark = pytest.mark.airflow
TOKEN = "airflow-Leak-Token-6620"
MAPPING = """primary_key: [id]
source: {kind: rest, connection: leak_api, path: /items, records_path: results, paginator: {type: single},
         retry: {max_attempts: 1}}
columns: {id: {}, name: {}}
"""


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import initdb

    initdb()


def test_a_token_echoed_by_the_source_reaches_no_airflow_log_or_xcom(airflow_db, tmp_path, monkeypatch, capfd,
                                                                    caplog):
    folder = tmp_path / "mappings" / "leak"
    folder.mkdir(parents=True)
    (folder / "_system.yml").write_text("system: leak\n")
    (folder / "items.yml").write_text(MAPPING)
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "stg_leak__items.json").write_text(json.dumps({"name": "stg_leak__items", "expectations": []}))
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    for name, value in {"ETL_MAPPINGS_DIR": str(tmp_path / "mappings"), "ETL_EXPECTATIONS_DIR": str(suites),
                        "ETL_WAREHOUSE_URL": url}.items():
        monkeypatch.setenv(name, value)
    calls = {"n": 0}

    def app(req):
        calls["n"] += 1
        if calls["n"] == 1:
            return Reply(body={"results": [{"id": "1", "name": "a"}]})
        return Reply(400, {"error": "bad request", "got": req.headers.get("Authorization")})

    with serve(app) as server:
        monkeypatch.setenv("AIRFLOW_CONN_LEAK_API", f"http://:{TOKEN}@{server.url.removeprefix('http://')}")
        dag = project_dagbag().dags["leak_sync"]
        first = dag.test()
        second = dag.test()
    assert first.state == "success" and second.state == "failed"
    assert rows(url, "SELECT status FROM etl_runs WHERE run_id = :r", r=second.run_id) == [("failed",)]
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = [repr(x.value) for x in session.query(XComModel).filter(XComModel.dag_id == "leak_sync")]
    captured = capfd.readouterr()
    audit = rows(url, "SELECT error FROM etl_runs")
    blob = "\n".join([captured.out, captured.err, caplog.text, *xcoms, *map(str, audit)])
    assert "400 Bad Request" in blob  # the failure was logged and looked at
    assert TOKEN not in blob, blob[max(0, blob.find(TOKEN) - 400):][:800]
