"""Session-wide test environment: a private AIRFLOW_HOME and data dir, the demo CRM, the warehouses.

Airflow reads its settings at import, so they are set here before any test imports it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_TMP = Path(tempfile.mkdtemp(prefix="etl-tests-"))
os.environ.setdefault("AIRFLOW_HOME", str(_TMP / "airflow"))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# one Fernet key for the test process and every Airflow subprocess it starts: otherwise the first CLI
# call writes airflow.cfg with a fresh key while this process already runs without one, and asset
# triggers one side encrypted cannot be read by the other (JSONDecodeError at DAG sync)
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "RHAhlwe7zWN4_j9JBEm4PHrWktdKCs0gzOkfLkbRpc8=")
os.environ["ETL_DATA_DIR"] = str(_TMP / "var")
os.environ.setdefault("ETL_PII_SALT", "test-salt")
os.environ["ETL_WAREHOUSE_URL"] = f"duckdb:///{_TMP / 'default.duckdb'}"

CRM_TOKEN = "test-token"


def pg_base_url() -> str | None:
    from etl.load.warehouse import with_driver

    url = os.environ.get("ETL_TEST_PG_URL")
    return with_driver(url) if url else None


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The PostgreSQL warehouse started by `make test`; missing in CI is a failure, not a skip."""
    import sqlalchemy as sa

    url = pg_base_url()
    try:
        if not url:
            raise RuntimeError("ETL_TEST_PG_URL is not set")
        with sa.create_engine(url).connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI (run via `make test`): {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    return url


def pg_sibling_database(pg_url: str, suffix: str) -> str:
    """A fresh database `<test db>_<suffix>` on the test server: suites with different ETL_TEST_PG_URL
    databases (parallel checkouts) never share one."""
    import sqlalchemy as sa

    name = f"{sa.engine.make_url(pg_url).database}_{suffix}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.engine.make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def reset_pg(url: str) -> None:
    import sqlalchemy as sa

    from etl.load.warehouse import with_driver

    engine = sa.create_engine(with_driver(url))
    from etl.layers import SCHEMAS

    with engine.begin() as conn:
        for schema in (*SCHEMAS, "public"):  # emptied, not gone: the product's pooled connections outlive this
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()


@pytest.fixture
def tmp_duckdb_url(tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


@pytest.fixture
def mappings_copy(tmp_path, monkeypatch) -> Path:
    """A private copy of the project's mappings, made current through ETL_MAPPINGS_DIR, for tests that
    add, break or remove system folders."""
    import shutil

    root = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", root)
    monkeypatch.setenv("ETL_MAPPINGS_DIR", str(root))
    return root


def project_dagbag():
    """The project's DAG folder parsed as the dag-processor does (with whatever ETL_MAPPINGS_DIR says)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse(request, tmp_duckdb_url) -> str:
    """An empty warehouse of each kind the product supports: the test runs once on each."""
    if request.param == "duckdb":
        return tmp_duckdb_url
    url = request.getfixturevalue("pg_url")
    reset_pg(url)
    return url


@pytest.fixture(scope="module")
def crm_server():
    """A real demo CRM process (small, deterministic), with its connection exported as Airflow would."""
    from demo.process import start_demo_server

    with start_demo_server("crm", seed=7, scale=0.1, token=CRM_TOKEN) as srv:
        host_port = srv.url.removeprefix("http://")
        old = os.environ.get("AIRFLOW_CONN_CRM_API")
        os.environ["AIRFLOW_CONN_CRM_API"] = f"http://:{CRM_TOKEN}@{host_port}"
        yield srv
        if old is None:
            os.environ.pop("AIRFLOW_CONN_CRM_API", None)
        else:
            os.environ["AIRFLOW_CONN_CRM_API"] = old
