"""The outbound control tables: push state, the push audit and the rejected records.

- `etl_push_state`: per sync and key, the content hash of what the target last ACCEPTED and the target's
  own id for that key. The diff (`etl.push.diff`) joins the selection against it; a row is written only
  once the target has confirmed the record, in the same transaction as the audit counters of its chunk.
  A record the target refused keeps the refused content's hash and the reason (`rejected_hash`,
  `rejected_reason`): it is sent again once its content changes (or on every run, `resend_rejected:
  always`), so an idle run sends nothing even while a refused record waits for its fix.
- `etl_push_runs`: one row per run and sync: run_id, sync, target, mode, status, timestamps, the counts
  (selected, created, updated, deleted, unchanged, rejected; `filtered` and `dry_run` beside them) and
  the error. `selected = created + updated + unchanged + rejected` is checked before a run commits.
- `etl_push_rejects`: per run, sync and key, the target's own reason and the payload with PII protected.

(Kept apart from `etl_state` while the inbound state module is reshaped; both live in the warehouse and
commit with what they describe.)
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.load.warehouse import dialect_of, existing_columns

STATE, RUNS, REJECTS = "etl_push_state", "etl_push_runs", "etl_push_rejects"
COUNTS = ("selected", "created", "updated", "deleted", "unchanged", "rejected", "filtered")


def _ddl(dialect: str) -> list[str]:
    text, js = ("TEXT", "JSONB") if dialect == "postgresql" else ("VARCHAR", "JSON")
    counts = ", ".join(f"{c} BIGINT" for c in COUNTS)
    return [
        f"""CREATE TABLE IF NOT EXISTS {STATE} (
            sync {text} NOT NULL, key {text} NOT NULL, hash BIGINT, target_id {text},
            run_id {text}, pushed_at TIMESTAMP, rejected_hash BIGINT, rejected_reason {text},
            PRIMARY KEY (sync, key))""",
        f"""CREATE TABLE IF NOT EXISTS {RUNS} (
            run_id {text} NOT NULL, sync {text} NOT NULL, target {text}, mode {text}, status {text} NOT NULL,
            dry_run BOOLEAN, started_at TIMESTAMP, finished_at TIMESTAMP, {counts}, requests BIGINT,
            seconds DOUBLE PRECISION, error {text}, PRIMARY KEY (run_id, sync))""",
        f"""CREATE TABLE IF NOT EXISTS {REJECTS} (
            run_id {text} NOT NULL, sync {text} NOT NULL, key {text}, reason {text}, payload {js},
            rejected_at TIMESTAMP)""",
    ]


def ensure_push_tables(conn: Connection) -> None:
    dialect = dialect_of(str(conn.engine.url))
    for stmt in _ddl(dialect):
        conn.execute(sa.text(stmt))
    text = "TEXT" if dialect == "postgresql" else "VARCHAR"
    if "rejected_hash" not in existing_columns(conn, STATE):  # a state table from before refusals were kept
        conn.execute(sa.text(f"ALTER TABLE {STATE} ALTER COLUMN hash DROP NOT NULL"))
        conn.execute(sa.text(f"ALTER TABLE {STATE} ADD COLUMN rejected_hash BIGINT"))
        conn.execute(sa.text(f"ALTER TABLE {STATE} ADD COLUMN rejected_reason {text}"))


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
                  "e": error[:4000] if error else None, "r": run_id, "s": sync})


def accept(conn: Connection, sync: str, run_id: str, rows: list[tuple[str, int, str | None]]) -> None:
    """(key, hash, target_id) of records the target confirmed: the diff will not send them again."""
    if not rows:
        return
    conn.execute(sa.text(
        f"INSERT INTO {STATE} (sync, key, hash, target_id, run_id, pushed_at) VALUES (:s, :k, :h, :i, :r, :t) "
        "ON CONFLICT (sync, key) DO UPDATE SET hash = excluded.hash, "
        f"target_id = COALESCE(excluded.target_id, {STATE}.target_id), "
        "run_id = excluded.run_id, pushed_at = excluded.pushed_at, rejected_hash = NULL, rejected_reason = NULL"),
        [{"s": sync, "k": k, "h": h, "i": i, "r": run_id, "t": now_utc()} for k, h, i in rows])


def refused(conn: Connection, sync: str, rows: list[tuple[str, int, str]]) -> None:
    """(key, hash, reason) of records the target refused: not sent again until their content changes."""
    if rows:
        conn.execute(sa.text(
            f"INSERT INTO {STATE} (sync, key, rejected_hash, rejected_reason) VALUES (:s, :k, :h, :why) "
            "ON CONFLICT (sync, key) DO UPDATE SET rejected_hash = excluded.rejected_hash, "
            "rejected_reason = excluded.rejected_reason"),
            [{"s": sync, "k": k, "h": h, "why": why[:2000]} for k, h, why in rows])


def forget(conn: Connection, sync: str, keys: list[str]) -> None:
    """Keys the target deleted (mirror): no state left, a comeback is created again."""
    if keys:
        conn.execute(sa.text(f"DELETE FROM {STATE} WHERE sync = :s AND key = :k"),
                     [{"s": sync, "k": k} for k in keys])


def reject(conn: Connection, run_id: str, sync: str, rows: list[tuple[str, str, str]]) -> None:
    """(key, reason, payload JSON with PII protected) of records that were refused."""
    if rows:
        conn.execute(sa.text(f"INSERT INTO {REJECTS} (run_id, sync, key, reason, payload, rejected_at) "
                             "VALUES (:r, :s, :k, :why, :p, :t)"),
                     [{"r": run_id, "s": sync, "k": k, "why": why[:2000], "p": p, "t": now_utc()}
                      for k, why, p in rows])


def state_table(conn: Connection, sync: str) -> pa.Table:
    rows = conn.execute(sa.text(f"SELECT key, hash, target_id FROM {STATE} WHERE sync = :s ORDER BY key"),
                        {"s": sync}).all()
    return pa.table({"key": [r[0] for r in rows], "hash": [r[1] for r in rows], "target_id": [r[2] for r in rows]})
