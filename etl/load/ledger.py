"""`etl_files`: the ledger of every file a file source has seen, so each file is processed once.

One row per (pipeline, entity, file name, checksum, run): `loaded` (its rows went into the entity's
table), `duplicate` (the same name and content was loaded before: skipped) or `rejected` (unreadable;
`reason` says why). A corrected re-delivery (same name, new checksum) is `loaded` with `replaces` = the
checksum it supersedes and `deleted` = rows of its predecessor it no longer contains.

Rows are written in the load transaction, next to the data and the `etl_runs` row, so the ledger can
never say a file was loaded when its rows were not (or the reverse).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.load.warehouse import dialect_of

LEDGER = "etl_files"
COLUMNS = ("pipeline", "entity", "file_name", "checksum", "status", "rows", "run_id", "reason", "replaces",
           "deleted", "processed_at")
_COLS = ", ".join(f'"{c}"' for c in COLUMNS)
Seen = tuple[str, str | None]  # (status, reason) of one file version for one entity


def ensure_ledger(conn: Connection) -> None:
    text = "TEXT" if dialect_of(str(conn.engine.url)) == "postgresql" else "VARCHAR"
    conn.execute(sa.text(
        f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
            pipeline {text} NOT NULL, entity {text} NOT NULL, file_name {text} NOT NULL,
            checksum {text} NOT NULL, status {text} NOT NULL, "rows" BIGINT, run_id {text} NOT NULL,
            reason {text}, replaces {text}, deleted BIGINT, processed_at TIMESTAMP,
            PRIMARY KEY (pipeline, entity, file_name, checksum, run_id))"""
    ))


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


def statuses(conn: Connection, pipeline: str, file_name: str, checksum: str) -> dict[str, Seen]:
    """Entity -> (latest status, reason) of one file version, over every entity of the pipeline."""
    rows = conn.execute(sa.text(
        f"SELECT entity, status, reason FROM {LEDGER} "
        "WHERE pipeline = :p AND file_name = :f AND checksum = :c ORDER BY processed_at, run_id"),
        {"p": pipeline, "f": file_name, "c": checksum})
    return {entity: (status, reason) for entity, status, reason in rows}
