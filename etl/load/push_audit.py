"""The outbound audit tables: `etl_push_runs` and `etl_push_rejects` (push state is in `etl.state`).

- `etl_push_runs`: one row per run and sync: run_id, sync, target, mode, status, timestamps, the counts
  (selected, created, updated, deleted, unchanged, rejected; `filtered` and `dry_run` beside them) and
  the error. `selected = created + updated + unchanged + rejected` is checked before a run commits.
- `etl_push_rejects`: per run, sync and key, the target's own reason and the payload with PII protected.

Both are written in the transaction of the chunk they describe, together with its push state
(`etl.state.accept_pushed` / `refuse_pushed` / `forget_pushed`). `ensure_push_tables` also creates
`etl_push_state` and upgrades one made before refused records were kept.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.layers import expose, qualified
from etl.load.warehouse import dialect_of, existing_columns
from etl.redact import redact
from etl.state import PUSH_STATE_TABLE, ensure_push_state

RUNS, REJECTS = "etl_push_runs", "etl_push_rejects"
STATE = PUSH_STATE_TABLE
COUNTS = ("selected", "created", "updated", "deleted", "unchanged", "rejected", "filtered")


def _ddl(dialect: str) -> list[str]:
    text, js = ("TEXT", "JSONB") if dialect == "postgresql" else ("VARCHAR", "JSON")
    counts = ", ".join(f"{c} BIGINT" for c in COUNTS)
    return [
        f"""CREATE TABLE IF NOT EXISTS {qualified(RUNS)} (
            run_id {text} NOT NULL, sync {text} NOT NULL, target {text}, mode {text}, status {text} NOT NULL,
            dry_run BOOLEAN, started_at TIMESTAMP, finished_at TIMESTAMP, {counts}, requests BIGINT,
            seconds DOUBLE PRECISION, error {text}, PRIMARY KEY (run_id, sync))""",
        f"""CREATE TABLE IF NOT EXISTS {qualified(REJECTS)} (
            run_id {text} NOT NULL, sync {text} NOT NULL, key {text}, reason {text}, payload {js},
            rejected_at TIMESTAMP)""",
    ]


def ensure_push_tables(conn: Connection) -> None:
    dialect = dialect_of(str(conn.engine.url))
    for stmt in _ddl(dialect):
        conn.execute(sa.text(stmt))
    for table in (RUNS, REJECTS):
        expose(conn, table, replace=False)
    ensure_push_state(conn)
    text = "TEXT" if dialect == "postgresql" else "VARCHAR"
    if "rejected_hash" not in existing_columns(conn, STATE):  # a state table from before refusals were kept
        conn.execute(sa.text(f"ALTER TABLE {STATE} ALTER COLUMN hash DROP NOT NULL"))
        conn.execute(sa.text(f"ALTER TABLE {STATE} ADD COLUMN rejected_hash BIGINT"))
        conn.execute(sa.text(f"ALTER TABLE {STATE} ADD COLUMN rejected_reason {text}"))
        expose(conn, STATE)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def start_run(conn: Connection, run_id: str, sync: str, target: str, mode: str, dry_run: bool) -> None:
    """Record the run as `running`; any other `running` row of the sync is a killed run's leftover."""
    conn.execute(sa.text(f"UPDATE {RUNS} SET status = 'failed', finished_at = :t, error = :e "
                         "WHERE sync = :s AND status = 'running' AND run_id <> :r"),
                 {"t": now_utc(), "s": sync, "r": run_id,
                  "e": f"abandoned: stopped before finishing (found by run {run_id}); accepted chunks kept "
                       "their state, the rest is sent again"})
    zero = ", ".join(f"{c} = 0" for c in COUNTS)
    conn.execute(sa.text(f"DELETE FROM {REJECTS} WHERE run_id = :r AND sync = :s"), {"r": run_id, "s": sync})
    conn.execute(sa.text(
        f"INSERT INTO {RUNS} (run_id, sync, target, mode, status, dry_run, started_at, {', '.join(COUNTS)}) "
        f"VALUES (:r, :s, :tg, :m, 'running', :d, :t, {', '.join('0' for _ in COUNTS)}) "
        f"ON CONFLICT (run_id, sync) DO UPDATE SET status = 'running', error = NULL, finished_at = NULL, "
        f"started_at = excluded.started_at, {zero}"),
        {"r": run_id, "s": sync, "tg": target, "m": mode, "d": dry_run, "t": now_utc()})


def add_counts(conn: Connection, run_id: str, sync: str, counts: dict[str, int]) -> None:
    sets = ", ".join(f"{c} = {c} + :{c}" for c in counts)
    if sets:
        conn.execute(sa.text(f"UPDATE {RUNS} SET {sets} WHERE run_id = :r AND sync = :s"),
                     {**counts, "r": run_id, "s": sync})


def set_counts(conn: Connection, run_id: str, sync: str, counts: dict[str, int]) -> None:
    sets = ", ".join(f"{c} = :{c}" for c in counts)
    conn.execute(sa.text(f"UPDATE {RUNS} SET {sets} WHERE run_id = :r AND sync = :s"),
                 {**counts, "r": run_id, "s": sync})


def run_counts(conn: Connection, run_id: str, sync: str) -> dict[str, int]:
    row = conn.execute(sa.text(f"SELECT {', '.join(COUNTS)} FROM {RUNS} WHERE run_id = :r AND sync = :s"),
                       {"r": run_id, "s": sync}).one()
    return {c: int(v or 0) for c, v in zip(COUNTS, row, strict=True)}


def finish_run(conn: Connection, run_id: str, sync: str, status: str, requests: int, seconds: float,
               error: str | None = None) -> None:
    conn.execute(sa.text(f"UPDATE {RUNS} SET status = :st, finished_at = :t, requests = :q, seconds = :sec, "
                         "error = :e WHERE run_id = :r AND sync = :s"),
                 {"st": status, "t": now_utc(), "q": requests, "sec": round(seconds, 3),
                  "e": redact(error)[:4000] if error else None, "r": run_id, "s": sync})


def reject(conn: Connection, run_id: str, sync: str, rows: list[tuple[str, str, str]]) -> None:
    """(key, reason, payload JSON with PII protected) of records that were refused."""
    if rows:
        conn.execute(sa.text(f"INSERT INTO {REJECTS} (run_id, sync, key, reason, payload, rejected_at) "
                             "VALUES (:r, :s, :k, :why, :p, :t)"),
                     [{"r": run_id, "s": sync, "k": k, "why": redact(why)[:2000], "p": p, "t": now_utc()}
                      for k, why, p in rows])
