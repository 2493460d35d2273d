"""Dataset names of the lineage events follow the OpenLineage naming spec, for every kind of task."""

from __future__ import annotations

import socket


def test_sync_push_and_model_tasks_name_their_datasets(monkeypatch, tmp_path):
    from etl.ops.lineage import task_lineage

    monkeypatch.setenv("ETL_WAREHOUSE_URL", "postgresql://etl:pw@wh.internal:5433/warehouse")
    monkeypatch.setenv("AIRFLOW_CONN_CRM_API", "http://:tok@crm.example:8443")
    monkeypatch.setenv("AIRFLOW_CONN_ERP_DB", f"sqlite:///{tmp_path / 'erp.sqlite'}")
    monkeypatch.setenv("AIRFLOW_CONN_OA_API", "https://:tok@oa.example")

    inputs, outputs = task_lineage("crm_sync", "contacts")
    assert [(d.namespace, d.name) for d in inputs] == [("http://crm.example:8443", "/crm/v3/objects/contacts")]
    assert [(d.namespace, d.name) for d in outputs] == [("postgres://wh.internal:5433",
                                                         "warehouse.staging.stg_crm__contacts")]

    inputs, _ = task_lineage("erp_sync", "orders")
    assert [(d.namespace, d.name) for d in inputs] == [(f"sqlite://{tmp_path / 'erp.sqlite'}", "main.orders")]

    inputs, outputs = task_lineage("oa_sync", "approvals")
    assert inputs[0].namespace == f"file://{socket.gethostname()}" and inputs[0].name.endswith("approvals_*.csv")

    inputs, outputs = task_lineage("warehouse_models", "build_models")
    names = {d.name for d in outputs}
    assert "warehouse.marts.mart_customer_value" in names and "warehouse.core.fct_deals" in names
    assert "warehouse.staging.stg_erp__orders" in {d.name for d in inputs}

    push = next(iter(__import__("etl.config.outbound", fromlist=["load_syncs"]).load_syncs().values()))
    inputs, outputs = task_lineage(push.dag_id, "push")
    assert inputs and all(d.namespace == "postgres://wh.internal:5433" for d in inputs)
    assert len(outputs) == 1

    assert task_lineage("crm_sync", "summary") == ([], [])
    assert task_lineage("someone_elses_dag", "t") == ([], [])


def test_duckdb_warehouse_is_named_after_its_file(monkeypatch, tmp_path):
    from etl.ops.lineage import warehouse_dataset

    monkeypatch.setenv("ETL_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'w.duckdb'}")
    d = warehouse_dataset("mart_sales")
    assert (d.namespace, d.name) == (f"duckdb://{tmp_path / 'w.duckdb'}", "marts.mart_sales")
