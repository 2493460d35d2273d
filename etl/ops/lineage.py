"""OpenLineage for every sync, push and model build, through the Airflow OpenLineage provider.

The provider emits a START/COMPLETE/FAIL event per task; for the tasks of this project it asks
`EtlLineageExtractor` (registered with `[openlineage] extractors`, e.g.
`AIRFLOW__OPENLINEAGE__EXTRACTORS=etl.ops.lineage.EtlLineageExtractor`) for the datasets a task read
and wrote. They come from the same configuration the task ran with, resolved at run time (the
connection's host, the warehouse URL), so nothing secret and nothing guessed is emitted.

Dataset names follow the OpenLineage naming spec (https://openlineage.io/docs/spec/naming):
PostgreSQL `postgres://{host}:{port}` + `{database}.{schema}.{table}`; local files `file://{host}` +
`{path}`; HTTP APIs `{scheme}://{host}:{port}` + `{path}`. DuckDB and SQLite, which the spec does
not list, follow its pattern with the database file as authority: `duckdb://{file}` + `main.{table}`,
`sqlite://{file}` + `main.{table}`. Emission is off until a transport is configured
(`AIRFLOW__OPENLINEAGE__TRANSPORT`, e.g. `{"type": "console"}` or an HTTP backend such as Marquez).
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)


def _dataset(namespace: str, name: str):
    from openlineage.client.event_v2 import Dataset

    return Dataset(namespace=namespace, name=name)


def sql_dataset(url: str, table: str):
    """A table of a SQLAlchemy URL, named per the spec (PostgreSQL) or its pattern (DuckDB, SQLite)."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    backend = parsed.get_backend_name()
    schema, _, name = table.rpartition(".")
    if backend == "postgresql":
        return _dataset(f"postgres://{parsed.host}:{parsed.port or 5432}",
                        f"{parsed.database}.{schema or 'public'}.{name}")
    path = str(Path(parsed.database or ":memory:").resolve()) if parsed.database != ":memory:" else ":memory:"
    return _dataset(f"{backend}://{path}", f"{schema or 'main'}.{name}")


def warehouse_dataset(table: str):
    """A warehouse table, named with its layer's schema (etl/layers.py)."""
    from etl.layers import schema_of
    from etl.load.warehouse import warehouse_url

    return sql_dataset(warehouse_url(), table if "." in table else f"{schema_of(table)}.{table}")


def http_dataset(base_url: str, path: str):
    parts = urlsplit(base_url.rstrip("/") + "/" + path.lstrip("/"))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return _dataset(f"{parts.scheme}://{parts.hostname}:{port}", parts.path)


def file_dataset(path):
    """A local file (namespace: this host) or an object in a store (namespace: `s3://bucket`)."""
    if isinstance(path, Path):
        return _dataset(f"file://{socket.gethostname()}", str(path.resolve()))
    url = str(path)
    scheme, _, rest = url.partition("://")
    bucket, _, key = rest.partition("/")
    return _dataset(f"{scheme}://{bucket}", key)


def _query_tables(query: str) -> list[str]:
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(query)
    except sqlglot.errors.ParseError:
        return []
    return sorted({".".join(p for p in (t.db, t.name) if p) for t in tree.find_all(exp.Table)})


def source_datasets(entity) -> list:
    """Where an inbound entity reads from."""
    from etl.sources.connections import get_connection

    src = entity.source
    if src.kind == "files":
        from etl.sources.files import landing_dir

        return [file_dataset(landing_dir(src.landing) / src.pattern)]
    conn = get_connection(src.connection)
    if src.kind == "rest":
        return [http_dataset(conn.base_url, src.path.split("?")[0])]
    url = conn.sqlalchemy_url()
    tables = [src.table] if src.table else _query_tables(src.query)
    return [sql_dataset(url, t) for t in tables]


def _sync_lineage(system: str, task_id: str) -> tuple[list, list]:
    from etl.config.loader import load_system, mappings_dir

    # an entity's task is named after the entity; `summary` and a broken file's `<entity>.config` move no data
    entity = load_system(mappings_dir() / system, strict=False).entities.get(task_id)
    if entity is None:
        return [], []
    return source_datasets(entity), [warehouse_dataset(entity.target)]


def _push_lineage(sync_name: str) -> tuple[list, list]:
    from etl.config.outbound import load_syncs
    from etl.sources.connections import get_connection

    sync = next((s for s in load_syncs().values() if s.sync == sync_name), None)
    if sync is None:
        return [], []
    from etl.config.outbound import FileTarget, RestTarget, SqlTarget

    inputs = [warehouse_dataset(t) for t in sync.reads]
    target = sync.target
    if isinstance(target, RestTarget):
        out = http_dataset(get_connection(target.connection).base_url, target.path.split("{")[0])
    elif isinstance(target, SqlTarget):
        out = sql_dataset(get_connection(target.connection).sqlalchemy_url(), target.table)
    elif isinstance(target, FileTarget):
        from etl.runfiles import data_dir

        folder = Path(target.folder)
        out = file_dataset(folder if folder.is_absolute() else data_dir() / folder)
    else:  # a plug-in target: its kind as the namespace, the sync as the name
        out = _dataset(f"etl-plugin://{target.kind}", sync.sync)
    return inputs, [out]


def _models_lineage(task_id: str) -> tuple[list, list]:
    from etl.config.loader import load_all

    staging = sorted({e.target for cfg in load_all(strict=False).values() for e in cfg.entities.values()})
    if "crosswalk" in task_id:
        from etl.identity.crosswalk import TABLES

        outputs = list(TABLES)
    else:
        from etl.models.build import build_order, discover

        outputs = [m.name for m in build_order(discover())]
    return [warehouse_dataset(t) for t in staging], [warehouse_dataset(t) for t in outputs]


def task_lineage(dag_id: str, task_id: str) -> tuple[list, list]:
    """(inputs, outputs) of one task of this project's DAGs; ([], []) for anything else."""
    if dag_id.endswith("_sync"):
        return _sync_lineage(dag_id.removesuffix("_sync"), task_id)
    if dag_id.startswith("push_"):
        return _push_lineage(dag_id.removeprefix("push_"))
    if dag_id == "warehouse_models":
        return _models_lineage(task_id)
    return [], []


def _extractor_base():
    from airflow.providers.openlineage.extractors.base import BaseExtractor

    return BaseExtractor


class EtlLineageExtractor(_extractor_base()):  # type: ignore[misc]
    """The provider's extractor for this project's TaskFlow tasks (PythonOperator underneath)."""

    @classmethod
    def get_operator_classnames(cls) -> list[str]:
        return ["_PythonDecoratedOperator", "PythonOperator"]

    def _lineage(self):
        from airflow.providers.openlineage.extractors.base import OperatorLineage

        try:
            inputs, outputs = task_lineage(self.operator.dag_id, self.operator.task_id)
        except Exception:  # lineage must never fail a task
            log.warning("no lineage for %s.%s", self.operator.dag_id, self.operator.task_id, exc_info=True)
            inputs, outputs = [], []
        return OperatorLineage(inputs=inputs, outputs=outputs)

    def _execute_extraction(self):
        return self._lineage()

    def extract_on_complete(self, task_instance):
        return self._lineage()
