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
transaction as the rows it covers. Outbound push state (per sync and key: the hash the target accepted
and the target's id) belongs here too, beside the watermark, with the same rule.

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

    text = "TEXT" if conn.dialect.name == "postgresql" else "VARCHAR"
    conn.execute(sa.text(
        f"""CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
            pipeline {text} NOT NULL, entity {text} NOT NULL, watermark {text}, run_id {text},
            updated_at TIMESTAMP, PRIMARY KEY (pipeline, entity))"""))


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
