"""A DuckDB file is one writer on one host: with an executor that runs tasks on other hosts the product
refuses it and says to use PostgreSQL; single-host executors and PostgreSQL pass."""

from __future__ import annotations

import pytest

from etl.load.warehouse import DistributedDuckDBError, configured_executors, warehouse_url

DISTRIBUTED = [
    "CeleryExecutor",
    "KubernetesExecutor",
    "airflow.providers.celery.executors.celery_executor.CeleryExecutor",
    "airflow.providers.edge3.executors.EdgeExecutor",
    "LocalExecutor,edge:airflow.providers.edge3.executors.EdgeExecutor",  # a list with an alias
]


@pytest.mark.parametrize("executor", DISTRIBUTED)
def test_duckdb_refused_with_distributed_executor(executor, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    monkeypatch.setenv("ETL_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'w.duckdb'}")
    with pytest.raises(DistributedDuckDBError) as err:
        warehouse_url()
    message = str(err.value)
    assert "Use PostgreSQL" in message and "ETL_WAREHOUSE_URL=postgresql://" in message
    assert executor.split(",")[-1].rsplit(".", 1)[-1] in message


def test_relative_default_duckdb_refused_too(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.delenv("ETL_WAREHOUSE_URL")
    with pytest.raises(DistributedDuckDBError, match="single writer on a single host"):
        warehouse_url()


@pytest.mark.parametrize("executor", ["LocalExecutor", "airflow.executors.local_executor.LocalExecutor", ""])
def test_duckdb_allowed_on_one_host(executor, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    monkeypatch.setenv("ETL_WAREHOUSE_URL", url)
    assert warehouse_url() == url


def test_postgresql_allowed_with_celery(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv("ETL_WAREHOUSE_URL", "postgresql://etl:pw@db:5432/warehouse")
    assert warehouse_url() == "postgresql://etl:pw@db:5432/warehouse"


def test_executor_read_from_airflow_config_when_not_in_env(monkeypatch):
    """Without the environment variable the executor comes from Airflow's configuration (airflow.cfg)."""
    from airflow.configuration import conf

    monkeypatch.delenv("AIRFLOW__CORE__EXECUTOR", raising=False)
    old = conf.get("core", "executor", fallback="LocalExecutor")
    conf.set("core", "executor", "CeleryExecutor")
    try:
        assert configured_executors() == ["CeleryExecutor"]
    finally:
        conf.set("core", "executor", old)


def test_task_failure_is_permanent(monkeypatch, tmp_path):
    """A retry cannot fix configuration: the task fails at once instead of retrying."""
    from airflow.sdk.exceptions import AirflowFailException

    from etl.orchestration.callables import fail_fast

    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv("ETL_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'w.duckdb'}")
    with pytest.raises(AirflowFailException, match="Use PostgreSQL"):
        fail_fast(warehouse_url)()
