"""DuckDB: a read-only snapshot of the core, history and mart tables for analysts, published after each
build, so reading never blocks a load.

DuckDB lets one process write a file, and a reader holding the warehouse file open blocks the next load
("warehouse file is locked"). After every build the core, history and mart tables are copied into a
separate file, `<warehouse>.read.duckdb` next to the warehouse (or ETL_READ_SNAPSHOT), written under a
temporary name and renamed over the old one: the rename is atomic, so a reader sees the previous
snapshot or the new one, never half of one, and a reader that keeps the old file open keeps reading the
old snapshot undisturbed while the pipeline writes the warehouse. Staging, quarantine and control
tables are not copied (the same boundary as PostgreSQL's `analyst` role). The snapshot has the
warehouse's layout: each table in its schema (`core`, `marts`) and a read-through view of the same name
in `main`, so `SELECT * FROM mart_sales` and `SELECT * FROM marts.mart_sales` both work.

    duckdb.connect("warehouse.read.duckdb", read_only=True)
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import sqlalchemy as sa

from etl.layers import qualified, schema_of
from etl.load.warehouse import dialect_of, quote, transaction, warehouse_url

log = logging.getLogger(__name__)


def snapshot_path(url: str) -> Path | None:
    """Where the snapshot of the DuckDB warehouse at `url` goes; None for PostgreSQL or in-memory DuckDB."""
    if dialect_of(url) != "duckdb":
        return None
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:":
        return None
    if configured := os.environ.get("ETL_READ_SNAPSHOT"):
        return Path(configured)
    path = Path(database)
    return path.with_name(f"{path.stem}.read.duckdb")


def publish_snapshot(tables: list[str], url: str | None = None) -> dict | None:
    """Copy `tables` into a fresh file, then rename it over the snapshot; returns path, tables, seconds."""
    url = url or warehouse_url()
    target = snapshot_path(url)
    if target is None:
        return None
    started = time.monotonic()
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    with transaction(url) as conn:  # one consistent read of the warehouse; the attachment ends with it
        conn.execute(sa.text(f"ATTACH '{partial}' AS read_snapshot"))
        for schema in sorted({schema_of(t) for t in tables}):
            conn.execute(sa.text(f"CREATE SCHEMA read_snapshot.{quote(schema)}"))
        for table in tables:  # same layout as the warehouse: the table in its schema, a view in main
            conn.execute(sa.text(f"CREATE TABLE read_snapshot.{qualified(table)} AS SELECT * FROM {qualified(table)}"))
            conn.execute(sa.text(f"CREATE VIEW read_snapshot.main.{quote(table)} AS SELECT * FROM {qualified(table)}"))
    os.replace(partial, target)
    result = {"path": str(target), "tables": len(tables), "seconds": round(time.monotonic() - started, 3)}
    log.info("published the read-only snapshot %s (%d tables) in %.2fs", target, len(tables), result["seconds"])
    return result
