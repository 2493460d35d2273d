"""The warehouse connection: one SQLAlchemy URL (`ETL_WAREHOUSE_URL`) picks DuckDB or PostgreSQL.

Both dialects go through the same code; what differs (column types, the bulk path) is looked up here
once. DuckDB allows one writer process per file, so opening retries while another task holds the lock;
for the same reason a DuckDB warehouse is refused when Airflow runs tasks on several hosts.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from etl import layers
from etl.config.loader import PROJECT_ROOT
from etl.dburl import with_driver
from etl.redact import redact

log = logging.getLogger(__name__)
DEFAULT_URL = "duckdb:///warehouse.duckdb"
LOCK_WAIT_S = float(os.environ.get("ETL_DUCKDB_LOCK_WAIT_S", "300"))
# DuckDB's own default is 80% of RAM: a 1M-row load then peaked at 2.2 GB, mostly the stage table.
# With a cap DuckDB spills to `<file>.tmp` instead, and a load's memory no longer grows with its size
# (1M rows: 30% slower merge, no more memory than 100k). "" keeps DuckDB's default.
DUCKDB_MEMORY_LIMIT = "256MB"

TYPES = {
    "duckdb": {"string": "VARCHAR", "json": "JSON", "integer": "BIGINT", "bigint": "BIGINT",
               "float": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP",
               "text": "VARCHAR"},
    "postgresql": {"string": "TEXT", "json": "JSONB", "integer": "BIGINT", "bigint": "BIGINT",
                   "float": "DOUBLE PRECISION", "boolean": "BOOLEAN", "date": "DATE",
                   "timestamp": "TIMESTAMP", "text": "TEXT"},
}


# Executors that run every task on the scheduler's own host; any other one (CeleryExecutor,
# KubernetesExecutor, EdgeExecutor, ECS, ...) may run two tasks of a DAG on two machines.
SINGLE_HOST_EXECUTORS = {"LocalExecutor", "SequentialExecutor", "DebugExecutor"}


class DistributedDuckDBError(RuntimeError):
    """A DuckDB warehouse under an executor that runs tasks on several hosts: a configuration error."""


def warehouse_url() -> str:
    """The configured URL, with a relative DuckDB path anchored at the project root."""
    url = os.environ.get("ETL_WAREHOUSE_URL", DEFAULT_URL)
    if url.startswith("duckdb:///") and not url.startswith("duckdb:////"):
        rel = url.removeprefix("duckdb:///")
        if rel and rel != ":memory:":
            url = f"duckdb:///{(PROJECT_ROOT / rel).resolve()}"
    if url.startswith("duckdb:"):
        refuse_duckdb_if_distributed(url, configured_executors())
    return url


def configured_executors() -> list[str]:
    """The class names of Airflow's configured executors (`[core] executor`: a list, aliases allowed).

    Read from the environment, or from Airflow's configuration when Airflow is already loaded (a task
    always is); plain `etl` commands outside Airflow do not pay for importing it.
    """
    value = os.environ.get("AIRFLOW__CORE__EXECUTOR")
    if value is None and "airflow" in sys.modules:
        try:
            from airflow.configuration import conf

            value = conf.get("core", "executor", fallback="")
        except Exception:  # noqa: BLE001 - no readable Airflow config: nothing configured
            value = ""
    names = []
    for item in re.split(r"[,;]", value or ""):
        path = item.split("=")[-1].split(":")[-1].strip()  # "team=alias:module.Class" -> module.Class
        if path:
            names.append(path.rsplit(".", 1)[-1])
    return names


def refuse_duckdb_if_distributed(url: str, executors: list[str]) -> None:
    """A DuckDB file has one writer on one host: tasks on other workers would write other files."""
    remote = [e for e in executors if e not in SINGLE_HOST_EXECUTORS]
    if remote:
        raise DistributedDuckDBError(
            f"ETL_WAREHOUSE_URL is a DuckDB warehouse ({url}), but Airflow's executor {', '.join(remote)} runs "
            "tasks on several hosts, and a DuckDB file has a single writer on a single host. Use PostgreSQL: "
            "set ETL_WAREHOUSE_URL=postgresql://USER:PASSWORD@HOST:5432/DB (see README, Production), "
            "or run on one host with LocalExecutor.")


def dialect_of(url: str) -> str:
    name = sa.engine.make_url(url).get_backend_name()
    if name not in TYPES:
        raise ValueError(f"ETL_WAREHOUSE_URL {redact(url)!r}: unsupported backend {name!r}; use duckdb or postgresql")
    return name


def sql_type(dialect: str, type_name: str) -> str:
    if type_name.startswith("decimal("):
        return type_name.upper()
    return TYPES[dialect][type_name]


def engine_for(url: str) -> Engine:
    return _engine(with_driver(url))


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    if dialect_of(url) == "duckdb":
        Path(sa.engine.make_url(url).database or "").parent.mkdir(parents=True, exist_ok=True)
        limit = os.environ.get("ETL_DUCKDB_MEMORY_LIMIT", DUCKDB_MEMORY_LIMIT)
        config = {"memory_limit": limit} if limit else {}
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"config": config},
                                  hide_parameters=True)  # rows (personal data) never in error texts
    else:
        engine = sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)
    dialect = dialect_of(url)
    sa.event.listen(engine, "connect", lambda dbapi_conn, _record: _on_connect(dialect, dbapi_conn))
    return engine


def _on_connect(dialect: str, dbapi_conn) -> None:
    """Every pipeline connection finds bare table names in their layer schemas (etl/layers.py)."""
    cursor = dbapi_conn.cursor()
    for stmt in layers.connection_setup(dialect):
        if dialect == "duckdb":
            cursor.execute(stmt)
            continue
        try:  # a plain SET lasts the session once its transaction is committed
            cursor.execute(stmt)
            dbapi_conn.commit()
        except Exception:  # noqa: BLE001 - CREATE SCHEMA raced by another process, or no right to: it exists
            dbapi_conn.rollback()
    cursor.close()


_PREPARED: set[str] = set()


def _mapping_targets() -> set[str]:
    """The tables the mappings load (a broken mapping file only drops its own entities)."""
    from etl.config.loader import load_all

    return {e.target for cfg in load_all(strict=False).values() for e in cfg.entities.values()}


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


@contextmanager
def transaction(url: str | None = None) -> Iterator[Connection]:
    """A connection inside one transaction; waits for a DuckDB file lock instead of failing."""
    url = url or warehouse_url()
    engine = engine_for(url)
    deadline = time.monotonic() + LOCK_WAIT_S
    delay = 0.2
    while True:
        try:
            conn = engine.connect()
            break
        except sa.exc.DBAPIError as exc:
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                raise
            log.info("warehouse file is locked by another writer; retrying in %.1fs", delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    try:
        if url not in _PREPARED:  # once per process: schemas, database search path, tables of old versions
            with conn.begin():
                layers.prepare(conn, _mapping_targets)
            _PREPARED.add(url)
        with conn.begin():
            yield conn
    finally:
        conn.close()


def raw_dbapi(conn: Connection):
    """The driver connection under SQLAlchemy (duckdb or psycopg2), for the bulk paths."""
    return conn.connection.driver_connection


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def existing_columns(conn: Connection, table: str) -> list[str]:
    """The table's columns in its layer's schema; empty when it does not exist."""
    rows = conn.execute(
        sa.text("SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                "AND table_schema = :s AND table_catalog = current_database() ORDER BY ordinal_position"),
        {"t": table, "s": layers.schema_of(table)},
    )
    return [r[0] for r in rows]


def has_table(conn: Connection, table: str) -> bool:
    return bool(existing_columns(conn, table))
