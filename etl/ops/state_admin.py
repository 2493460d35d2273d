"""`etl state show|reset`: look at and move an entity's watermark (the position the next run reads from).

A reset to nothing makes the next run read everything again (a full re-sync; merges keep it
idempotent); a reset to a moment backfills from there. The change is a row in `etl_state` like any
run's, marked with who made it, so the audit trail shows a manual move.
"""

from __future__ import annotations

import datetime as dt
import getpass

import sqlalchemy as sa

from etl import state
from etl.load import audit
from etl.load.warehouse import engine_for, has_table, transaction, warehouse_url


def show(url: str | None = None, pipeline: str | None = None) -> list[tuple]:
    """(pipeline, entity, watermark, run_id, updated_at) of every entity with a stored position."""
    sql = "SELECT pipeline, entity, watermark, run_id, updated_at FROM etl_state"
    params = {}
    if pipeline:
        sql += " WHERE pipeline = :p"
        params["p"] = pipeline
    with engine_for(url or warehouse_url()).connect() as conn:
        if not has_table(conn, "etl_state"):
            return []
        return [tuple(r) for r in conn.execute(sa.text(sql + " ORDER BY pipeline, entity"), params)]


def parse_to(value: str) -> str:
    """A backfill start as the watermark codec writes it (ISO 8601, UTC); refuse what is not a moment."""
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--to {value!r}: expected an ISO date or timestamp, e.g. 2026-01-31 or "
                         "2026-01-31T06:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return state.format_moment(moment, "iso")


def reset(pipeline: str, entity: str, to: str | None = None, url: str | None = None) -> tuple[str | None, str | None]:
    """Move the watermark; return (before, after). `to=None` forgets it (the next run reads everything)."""
    with transaction(url) as conn:
        audit.ensure_control_tables(conn)
        before = state.read_watermark(conn, pipeline, entity)
        if to is None:
            state.forget_watermark(conn, pipeline, entity)
        else:
            state.write_watermark(conn, pipeline, entity, to, f"manual reset by {getpass.getuser()}")
    return before, to
