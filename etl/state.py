"""State: where a pipeline stands between runs, and the one codec for its values.

Inbound, the state of an entity is its watermark: the largest cursor value a committed load covered,
kept in `etl_state` as the text the source wrote it in. Every part of the product that reads, compares
or renders a watermark goes through the functions here, so the REST source, the SQL source and the
cursor tracker can never disagree about what a watermark means:

* `parse_moment`  text -> aware datetime (ISO 8601 with or without zone, or epoch s / ms);
* `format_moment` datetime -> the text a server expects (`param_format`, request templates' formats);
* `lower_bound`   watermark - lag -> the value rows must exceed (an integer key stays an integer);
* `watermark_param` the REST filter parameter's value for a run.

Writes (`write_watermark`) take the load's connection, so the watermark commits in the same
transaction as the rows it covers. Outbound push state (`etl_push_state`: per sync and key, the hash
the target accepted and the target's id) lives here too, with the same rule: it commits with the audit
counters of the chunk the target confirmed.

This module imports nothing from `etl.load` or `etl.sources`: both sides depend on it.
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from etl.config.schema import Incremental

STATE_TABLE = "etl_state"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INT_RE = re.compile(r"^-?\d+$")


# ------------------------------------------------------------------------------------------- the codec


def _number(text: str) -> float | int | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def parse_moment(text: str) -> datetime:
    """A cursor or watermark as an aware datetime: ISO 8601 (with or without Z, offset, fraction)
    or an epoch number (milliseconds when >= 1e11, i.e. past the year 5138 in seconds)."""
    value = text.strip()
    number = _number(value)
    if number is not None:
        if abs(number) >= 1e11:
            return EPOCH + timedelta(milliseconds=number)
        return EPOCH + timedelta(seconds=number)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"cursor value {text!r} is neither an ISO 8601 timestamp nor epoch number") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # naive: the source's clock is UTC


def _iso_ms(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


# How a moment is written for a server. Every format truncates below its unit, so a filter
# `>= rendered` never skips a record.
FORMATS = {
    "iso": _iso_ms,  # 2024-05-01T12:30:00.000Z (JSON APIs, HubSpot date properties)
    "iso_s": lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"),  # 2024-05-01T12:30:00Z (Pipedrive updated_since)
    "iso_offset": lambda t: t.strftime("%Y-%m-%dT%H:%M:%S+00:00"),  # Zoho If-Modified-Since
    "soql": lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"),  # SOQL dateTime literal, unquoted
    "odata": lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"),  # OData v4 DateTimeOffset literal, unquoted
    "epoch_ms": lambda t: str((t - EPOCH) // timedelta(milliseconds=1)),
    "epoch_s": lambda t: str((t - EPOCH) // timedelta(seconds=1)),
    "date": lambda t: t.date().isoformat(),
    "datetime": lambda t: t.strftime("%Y-%m-%d %H:%M:%S"),  # SQL-ish, UTC
}


def format_moment(moment: datetime, fmt: str) -> str:
    """`moment` (aware) in UTC, written the way `fmt` (a key of FORMATS) says."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return FORMATS[fmt](moment.astimezone(UTC))


def naive_utc(moment: datetime) -> datetime:
    """Databases compare naive timestamps; the product's are UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def lower_bound(watermark: str | None, lag_s: int) -> int | dt.datetime | None:
    """The value rows must exceed: an integer key as is, a timestamp minus the lag (naive UTC).

    Raises ValueError for text that is neither (the SQL source names the setting to fix)."""
    if watermark is None or watermark == "":
        return None
    text = watermark.strip()
    if INT_RE.match(text):
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"watermark {watermark!r} is neither an integer key nor an ISO timestamp") from None
    return naive_utc(moment) - dt.timedelta(seconds=lag_s)


def watermark_moment(inc: Incremental, watermark: str | None) -> datetime | None:
    """Where an incremental read starts: the watermark minus `lag_s`, else `initial`, else None (all)."""
    if watermark:
        return parse_moment(watermark) - timedelta(seconds=inc.lag_s)
    return parse_moment(inc.initial) if inc.initial else None


def watermark_param(inc: Incremental, watermark: str | None) -> str | None:
    """The value of `inc.param`: `watermark_moment` in `inc.param_format`, or None (full read)."""
    moment = watermark_moment(inc, watermark)
    return None if moment is None else format_moment(moment, inc.param_format)


# ------------------------------------------------------------------------------------ stored watermarks


def ensure_state_tables(conn: Connection) -> None:
    import sqlalchemy as sa

    from etl.layers import expose, qualified

    text = "TEXT" if conn.dialect.name == "postgresql" else "VARCHAR"
    conn.execute(sa.text(
        f"""CREATE TABLE IF NOT EXISTS {qualified(STATE_TABLE)} (
            pipeline {text} NOT NULL, entity {text} NOT NULL, watermark {text}, run_id {text},
            updated_at TIMESTAMP, PRIMARY KEY (pipeline, entity))"""))
    expose(conn, STATE_TABLE, replace=False)


def read_watermark(conn: Connection, pipeline: str, entity: str) -> str | None:
    import sqlalchemy as sa

    row = conn.execute(
        sa.text(f"SELECT watermark FROM {STATE_TABLE} WHERE pipeline = :p AND entity = :e"),
        {"p": pipeline, "e": entity},
    ).first()
    return row[0] if row else None


def write_watermark(conn: Connection, pipeline: str, entity: str, watermark: str | None, run_id: str) -> None:
    """Inside the load's transaction: the watermark can never run ahead of the rows it covers."""
    import sqlalchemy as sa

    conn.execute(
        sa.text(
            f"INSERT INTO {STATE_TABLE} (pipeline, entity, watermark, run_id, updated_at) "
            "VALUES (:p, :e, :w, :r, :t) ON CONFLICT (pipeline, entity) DO UPDATE SET "
            "watermark = excluded.watermark, run_id = excluded.run_id, updated_at = excluded.updated_at"
        ),
        {"p": pipeline, "e": entity, "w": watermark, "r": run_id,
         "t": dt.datetime.now(dt.UTC).replace(tzinfo=None)},
    )


def forget_watermark(conn: Connection, pipeline: str, entity: str) -> None:
    """The next run reads everything again (a full re-sync; merges keep it idempotent)."""
    import sqlalchemy as sa

    conn.execute(sa.text(f"DELETE FROM {STATE_TABLE} WHERE pipeline = :p AND entity = :e"),
                 {"p": pipeline, "e": entity})


# ------------------------------------------------------------------------------------------ push state

PUSH_STATE_TABLE = "etl_push_state"


def ensure_push_state(conn: Connection) -> None:
    """Per sync and key: the hash of what the target last ACCEPTED and the target's own id; and, for a
    record it refused, the refused content's hash and the reason (sent again once the content changes)."""
    import sqlalchemy as sa

    from etl.layers import expose, qualified

    text = "TEXT" if conn.dialect.name == "postgresql" else "VARCHAR"
    conn.execute(sa.text(
        f"""CREATE TABLE IF NOT EXISTS {qualified(PUSH_STATE_TABLE)} (
            sync {text} NOT NULL, key {text} NOT NULL, hash BIGINT, target_id {text},
            run_id {text}, pushed_at TIMESTAMP, rejected_hash BIGINT, rejected_reason {text},
            PRIMARY KEY (sync, key))"""))
    expose(conn, PUSH_STATE_TABLE, replace=False)


def accept_pushed(conn: Connection, sync: str, run_id: str, rows: list[tuple[str, int, str | None]]) -> None:
    """(key, hash, target_id) of records the target confirmed, in the chunk's transaction."""
    import sqlalchemy as sa

    if not rows:
        return
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    upsert = ("ON CONFLICT (sync, key) DO UPDATE SET hash = excluded.hash, "
              f"target_id = COALESCE(excluded.target_id, {PUSH_STATE_TABLE}.target_id), run_id = excluded.run_id, "
              "pushed_at = excluded.pushed_at, rejected_hash = NULL, rejected_reason = NULL")
    columns = f"INSERT INTO {PUSH_STATE_TABLE} (sync, key, hash, target_id, run_id, pushed_at) "
    if conn.dialect.name == "duckdb":  # DuckDB's executemany runs row by row: one Arrow scan instead
        import pyarrow as pa

        keys, hashes, ids = zip(*rows, strict=True)
        batch = pa.table({"key": pa.array(keys, pa.string()), "hash": pa.array(hashes, pa.int64()),
                          "target_id": pa.array(ids, pa.string())})
        duck = conn.connection.driver_connection
        assert duck is not None
        duck.register("_etl_pushed", batch)
        try:
            conn.execute(sa.text(f"{columns} SELECT :s, key, hash, target_id, :r, :t FROM _etl_pushed {upsert}"),
                         {"s": sync, "r": run_id, "t": now})
        finally:
            duck.unregister("_etl_pushed")
        return
    conn.execute(sa.text(f"{columns} VALUES (:s, :k, :h, :i, :r, :t) {upsert}"),
                 [{"s": sync, "k": k, "h": h, "i": i, "r": run_id, "t": now} for k, h, i in rows])


def refuse_pushed(conn: Connection, sync: str, rows: list[tuple[str, int, str]]) -> None:
    """(key, hash, reason) of records the target refused: not sent again until their content changes."""
    import sqlalchemy as sa

    from etl.redact import redact

    if rows:
        conn.execute(sa.text(
            f"INSERT INTO {PUSH_STATE_TABLE} (sync, key, rejected_hash, rejected_reason) VALUES (:s, :k, :h, :why) "
            "ON CONFLICT (sync, key) DO UPDATE SET rejected_hash = excluded.rejected_hash, "
            "rejected_reason = excluded.rejected_reason"),
            [{"s": sync, "k": k, "h": h, "why": redact(why)[:2000]} for k, h, why in rows])


def forget_pushed(conn: Connection, sync: str, keys: list[str]) -> None:
    """Keys the target deleted (mirror): no state left, a comeback is created again."""
    import sqlalchemy as sa

    if keys:
        conn.execute(sa.text(f"DELETE FROM {PUSH_STATE_TABLE} WHERE sync = :s AND key = :k"),
                     [{"s": sync, "k": k} for k in keys])
