"""The control tables every pipeline shares: `etl_runs` (audit) and `etl_quarantine` (rows refused, with
the reason and the original record; written by `etl.quality.quarantine`), plus `etl_state`, whose
watermarks `etl.state` owns.

They are written in the same transaction as the data they describe, so a crash can never leave a
watermark ahead of the rows it covers or a load without its audit row.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl import state
from etl.layers import expose, qualified
from etl.load.warehouse import dialect_of, has_table, transaction
from etl.redact import redact

COUNTS = ("extracted", "filtered", "quarantined", "inserted", "updated", "unchanged")


def _ddl(dialect: str) -> list[str]:
    text, ts, js = ("TEXT", "TIMESTAMP", "JSONB") if dialect == "postgresql" else ("VARCHAR", "TIMESTAMP", "JSON")
    counts = ", ".join(f"{c} BIGINT" for c in COUNTS)
    return [
        f"""CREATE TABLE IF NOT EXISTS {qualified("etl_runs")} (
            run_id {text} NOT NULL, pipeline {text} NOT NULL, entity {text} NOT NULL, status {text} NOT NULL,
            started_at {ts}, finished_at {ts}, watermark_from {text}, watermark_to {text}, {counts},
            pages BIGINT, seconds DOUBLE PRECISION, error {text},
            PRIMARY KEY (run_id, pipeline, entity))""",
        f"""CREATE TABLE IF NOT EXISTS {qualified("etl_quarantine")} (
            run_id {text} NOT NULL, pipeline {text} NOT NULL, entity {text} NOT NULL, primary_key {text},
            failed_rule {text}, reason {text}, record {js}, quarantined_at {ts},
            replayed_at {ts}, replay_run_id {text}, replay_outcome {text})""",
        # tables made before replay existed (history is kept: a replayed row is marked, never deleted)
        *(f"ALTER TABLE etl_quarantine ADD COLUMN IF NOT EXISTS {c}"
          for c in (f"replayed_at {ts}", f"replay_run_id {text}", f"replay_outcome {text}")),
    ]


def ensure_control_tables(conn: Connection) -> None:
    for stmt in _ddl(dialect_of(str(conn.engine.url))):
        conn.execute(sa.text(stmt))
    for table in ("etl_runs", "etl_quarantine"):
        expose(conn, table, replace=False)
    state.ensure_state_tables(conn)


def now_utc() -> dt.datetime:
    """Wall-clock for audit timestamps only; data windows come from the run's data interval."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def start_run(run_id: str, pipeline: str, entity: str, url: str | None = None) -> str | None:
    """Record the run as `running` and return the watermark it starts from."""
    return begin(run_id, pipeline, entity, url)[0]


def begin(run_id: str, pipeline: str, entity: str, url: str | None = None) -> tuple[str | None, dict | None]:
    """(watermark the run starts from, None) for a run to do; (None, its audit row) for a run whose load
    already committed: a retried task (Airflow retry, a worker lost after the commit) must see the
    commit and leave its audit row as it is, not read again and rewrite it to `inserted 0`."""
    with transaction(url) as conn:
        ensure_control_tables(conn)
        done = committed_row(conn, run_id, pipeline, entity)
        if done is not None:
            return None, done
        watermark = state.read_watermark(conn, pipeline, entity)
        close_abandoned(conn, run_id, pipeline, entity)
        conn.execute(
            sa.text(
                "INSERT INTO etl_runs (run_id, pipeline, entity, status, started_at, watermark_from) "
                "VALUES (:r, :p, :e, 'running', :t, :w) ON CONFLICT (run_id, pipeline, entity) DO UPDATE SET "
                "status = 'running', error = NULL, finished_at = NULL, watermark_from = excluded.watermark_from"
            ),
            {"r": run_id, "p": pipeline, "e": entity, "t": now_utc(), "w": watermark},
        )
    return watermark, None


def committed_row(conn: Connection, run_id: str, pipeline: str, entity: str) -> dict | None:
    """The audit row of this run and entity if its load committed (status success), else None."""
    row = conn.execute(sa.text(
        f"SELECT {', '.join(COUNTS)}, watermark_from, watermark_to, pages, seconds FROM etl_runs "
        "WHERE run_id = :r AND pipeline = :p AND entity = :e AND status = 'success'"),
        {"r": run_id, "p": pipeline, "e": entity}).mappings().first()
    return dict(row) if row is not None else None


def committed(run_id: str, pipeline: str, entity: str, url: str | None = None) -> dict | None:
    """`committed_row` in a transaction of its own (None when the control tables do not exist yet)."""
    with transaction(url) as conn:
        if not has_table(conn, "etl_runs"):
            return None
        return committed_row(conn, run_id, pipeline, entity)


def close_abandoned(conn: Connection, run_id: str, pipeline: str, entity: str) -> int:
    """A run killed outright (OOM, SIGKILL, a lost worker) never wrote its failure; the DAG allows one
    active run, so any other `running` row of this pipeline and entity is such a leftover. Its data was
    never committed, so the new run simply starts from the same watermark."""
    result = conn.execute(
        sa.text("UPDATE etl_runs SET status = 'failed', finished_at = :t, error = :err "
                "WHERE pipeline = :p AND entity = :e AND status = 'running' AND run_id <> :r"),
        {"t": now_utc(), "p": pipeline, "e": entity, "r": run_id,
         "err": f"abandoned: stopped before finishing, nothing was committed (found by run {run_id})"},
    )
    return result.rowcount or 0


def finish_run(conn: Connection, run_id: str, pipeline: str, entity: str, counts: dict, extra: dict) -> None:
    sets = ", ".join(f"{c} = :{c}" for c in COUNTS)
    conn.execute(
        sa.text(
            f"UPDATE etl_runs SET status = 'success', finished_at = :t, watermark_to = :w, {sets}, "
            "pages = :pages, seconds = :seconds, error = NULL "
            "WHERE run_id = :r AND pipeline = :p AND entity = :e"
        ),
        {**{c: int(counts[c]) for c in COUNTS}, "t": now_utc(), "w": extra.get("watermark_to"),
         "pages": extra.get("pages"), "seconds": extra.get("seconds"), "r": run_id, "p": pipeline, "e": entity},
    )


def mark_failed(run_id: str, pipeline: str, entity: str, error: str, url: str | None = None) -> None:
    """Best effort: the task is failing anyway; the audit row must say why."""
    with transaction(url) as conn:
        ensure_control_tables(conn)
        conn.execute(
            sa.text(
                "INSERT INTO etl_runs (run_id, pipeline, entity, status, started_at, finished_at, error) "
                "VALUES (:r, :p, :e, 'failed', :t, :t, :err) ON CONFLICT (run_id, pipeline, entity) "
                "DO UPDATE SET status = 'failed', finished_at = excluded.finished_at, error = excluded.error "
                "WHERE etl_runs.status <> 'success'"  # a committed load stays true, whatever fails after it
            ),
            {"r": run_id, "p": pipeline, "e": entity, "t": now_utc(), "err": redact(error)[:4000]},
        )
