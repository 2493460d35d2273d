"""`etl_files`: the ledger of every file a file source has seen, so each file is processed once.

One row per (pipeline, entity, file name, checksum, run): `loaded` (its rows went into the entity's
table), `duplicate` (the same name and content was loaded before: skipped) or `rejected` (unreadable;
`reason` says why). A corrected re-delivery (same name, new checksum) is `loaded` with `replaces` = the
checksum it supersedes and `deleted` = rows of its predecessor it no longer contains.

Rows are written in the load transaction, next to the data and the `etl_runs` row, so the ledger can
never say a file was loaded when its rows were not (or the reverse). The file source itself only reads
(`etl.sources.files`): `history` hands it what was loaded, `record_files` writes what it saw (and deletes
what a correction replaced) in the load's transaction, `release_files` lets it move the files after
the commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.columns import FILE_COLUMN
from etl.config.schema import Entity
from etl.layers import expose, qualified
from etl.load.warehouse import dialect_of, quote, transaction

log = logging.getLogger("etl.load.ledger")

LEDGER = "etl_files"
COLUMNS = ("pipeline", "entity", "file_name", "checksum", "status", "rows", "run_id", "reason", "replaces",
           "deleted", "processed_at")
_COLS = ", ".join(f'"{c}"' for c in COLUMNS)


def ensure_ledger(conn: Connection) -> None:
    text = "TEXT" if dialect_of(str(conn.engine.url)) == "postgresql" else "VARCHAR"
    conn.execute(sa.text(
        f"""CREATE TABLE IF NOT EXISTS {qualified(LEDGER)} (
            pipeline {text} NOT NULL, entity {text} NOT NULL, file_name {text} NOT NULL,
            checksum {text} NOT NULL, status {text} NOT NULL, "rows" BIGINT, run_id {text} NOT NULL,
            reason {text}, replaces {text}, deleted BIGINT, processed_at TIMESTAMP,
            PRIMARY KEY (pipeline, entity, file_name, checksum, run_id))"""
    ))
    expose(conn, LEDGER, replace=False)


def loaded_checksums(conn: Connection, pipeline: str, entity: str) -> dict[str, list[str]]:
    """File name -> checksums of its loaded versions, oldest first (the last one is what the table holds)."""
    rows = conn.execute(sa.text(
        f"SELECT file_name, checksum FROM {LEDGER} WHERE pipeline = :p AND entity = :e AND status = 'loaded' "
        "ORDER BY processed_at, run_id"), {"p": pipeline, "e": entity})
    out: dict[str, list[str]] = {}
    for name, checksum in rows:
        versions = out.setdefault(name, [])
        if checksum in versions:
            versions.remove(checksum)
        versions.append(checksum)
    return out


def record(conn: Connection, pipeline: str, entity: str, run_id: str, entries: Iterable[dict[str, Any]],
           processed_at: dt.datetime) -> int:
    """Write this run's rows for one entity, replacing those of an earlier attempt of the same run."""
    conn.execute(sa.text(f"DELETE FROM {LEDGER} WHERE pipeline = :p AND entity = :e AND run_id = :r"),
                 {"p": pipeline, "e": entity, "r": run_id})
    params = [{"pipeline": pipeline, "entity": entity, "file_name": e["name"], "checksum": e["checksum"],
               "status": e["status"], "rows": e.get("rows", 0), "run_id": run_id, "reason": e.get("reason"),
               "replaces": e.get("replaces"), "deleted": e.get("deleted", 0), "processed_at": processed_at}
              for e in entries]
    if params:
        values = ", ".join(f":{c}" for c in COLUMNS)
        conn.execute(sa.text(f"INSERT INTO {LEDGER} ({_COLS}) VALUES ({values})"), params)
    return len(params)


def statuses(conn: Connection, pipeline: str, file_name: str, checksum: str) -> dict[str, tuple[str, str | None]]:
    """Entity -> (latest status, reason) of one file version, over every entity of the pipeline."""
    rows = conn.execute(sa.text(
        f"SELECT entity, status, reason FROM {LEDGER} "
        "WHERE pipeline = :p AND file_name = :f AND checksum = :c ORDER BY processed_at, run_id"),
        {"p": pipeline, "f": file_name, "c": checksum})
    return {entity: (status, reason) for entity, status, reason in rows}


# ------------------------------------------------------------------------- the file source's bookkeeping


def history(entity: Entity, url: str | None) -> dict[str, list[str]]:
    """What the file source needs to know before it reads: the loaded versions of each file name."""
    if entity.source.kind != "files":
        return {}
    with transaction(url) as conn:
        ensure_ledger(conn)
        return loaded_checksums(conn, entity.pipeline, entity.entity)


def record_files(conn: Connection, entity: Entity, run_id: str) -> None:
    """In the load transaction: what the extract saw goes into the ledger; corrections delete the rows
    their predecessor loaded that they no longer contain. No-op for sources that keep no ledger."""
    if entity.source.kind != "files":
        return
    from etl.sources.files import read_manifest, write_manifest

    entries = read_manifest(entity, run_id)
    for entry in entries:
        if entry.status == "loaded" and entry.replaces:
            entry.deleted = delete_replaced_rows(conn, entity, entry.name)
    ensure_ledger(conn)
    record(conn, entity.pipeline, entity.entity, run_id, [asdict(e) for e in entries],
           dt.datetime.now(dt.UTC).replace(tzinfo=None))
    write_manifest(entity, run_id, entries)


def release_files(entity: Entity, run_id: str, url: str | None) -> None:
    """After the commit: tell the file source what every entity has done with each file, so it can
    move the files out of the landing folder."""
    if entity.source.kind != "files":
        return
    from etl.sources.files import read_manifest, settle

    with transaction(url) as conn:
        seen = {e.name: statuses(conn, entity.pipeline, e.name, e.checksum)
                for e in read_manifest(entity, run_id)}
    settle(entity, run_id, seen)


def delete_replaced_rows(conn: Connection, entity: Entity, file_name: str) -> int:
    """Delete rows `file_name`'s earlier version loaded that its correction (this run's stage) lacks."""
    from etl.load.merge import STAGE

    column = next(name for name, c in entity.columns.items() if c.source == FILE_COLUMN)
    target, col = quote(entity.target), quote(column)
    keys = " AND ".join(f"s.{quote(k)} = {target}.{quote(k)}" for k in entity.primary_key)
    result = conn.execute(sa.text(
        f"DELETE FROM {target} WHERE {target}.{col} = :f "
        f"AND NOT EXISTS (SELECT 1 FROM {STAGE} s WHERE {keys})"
    ), {"f": file_name})
    deleted = max(result.rowcount or 0, 0)
    log.warning("%s.%s: corrected %s replaces its predecessor: %d row(s) it no longer contains deleted",
                entity.system, entity.entity, file_name, deleted)
    return deleted
