"""OpenLineage events from a real Airflow run of `crm_sync`, through the provider with a file transport:
the contacts task's event names the CRM endpoint it read and the warehouse table it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import CRM_TOKEN, ROOT

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils.db import initdb

    initdb()


def test_sync_tasks_emit_openlineage_inputs_and_outputs(airflow_db, tmp_path):
    from demo.process import start_demo_server

    events_file = tmp_path / "openlineage.jsonl"
    warehouse = tmp_path / "lineage.duckdb"
    with start_demo_server("crm", seed=5, scale=0.05, token=CRM_TOKEN) as srv:
        host_port = srv.url.removeprefix("http://")
        env = {**os.environ, "ETL_WAREHOUSE_URL": f"duckdb:///{warehouse}",
               "AIRFLOW_CONN_CRM_API": f"http://:{CRM_TOKEN}@{host_port}",
               "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(events_file),
                                                               "append": True}),
               "AIRFLOW__OPENLINEAGE__EXTRACTORS": "etl.ops.lineage.EtlLineageExtractor",
               "AIRFLOW__OPENLINEAGE__NAMESPACE": "etl-tests"}
        airflow = str(ROOT / ".venv" / "bin" / "airflow") if (ROOT / ".venv").exists() else \
            os.path.join(os.path.dirname(sys.executable), "airflow")
        run = subprocess.run([airflow, "dags", "test", "crm_sync", "--mark-success-pattern",
                              r"^(companies|deals|activities|tickets|owners)$"],
                             env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    done = [e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"] == "crm_sync.contacts"]
    assert done, sorted({(e["eventType"], e["job"]["name"]) for e in events})
    event = done[-1]
    assert event["job"]["namespace"] == "etl-tests"
    host, port = host_port.split(":")
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [(f"http://{host}:{port}",
                                                                       "/crm/v3/objects/contacts")]
    assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [(f"duckdb://{warehouse}",
                                                                        "staging.stg_crm__contacts")]
    assert CRM_TOKEN not in events_file.read_text()  # the connection's secret never reaches lineage
