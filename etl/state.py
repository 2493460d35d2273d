"""State: where a pipeline stands between runs, and the one codec for its values.

Inbound, the state of an entity is its watermark: the largest cursor value a committed load covered,
kept in `etl_state` as the text the source wrote it in. Every part of the product that reads, compares
or renders a watermark goes through the functions here, so the REST source, the SQL source and the
cursor tracker can never disagree about what a watermark means:

* `parse_moment`  text -> aware datetime (ISO 8601 with or without zone, or epoch s / ms);
* `format_moment` datetime -> the text a server expects in its filter parameter (`param_format`);
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
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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
            return _EPOCH + timedelta(milliseconds=number)
        return _EPOCH + timedelta(seconds=number)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"cursor value {text!r} is neither an ISO 8601 timestamp nor epoch number") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # naive: the source's clock is UTC


def format_moment(moment: datetime, fmt: str) -> str:
    """Render for the server; sub-unit parts are truncated, so the request never skips a record."""
    utc = moment.astimezone(UTC)
    if fmt == "iso":
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    since_epoch = utc - _EPOCH
    if fmt == "epoch_ms":
        return str(since_epoch // timedelta(milliseconds=1))
    if fmt == "epoch_s":
        return str(since_epoch // timedelta(seconds=1))
    return utc.date().isoformat()


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


def watermark_param(inc: Incremental, watermark: str | None) -> str | None:
    """The value of `inc.param`: the watermark minus `lag_s`, else `initial`, else None (full read)."""
    if watermark:
        moment = parse_moment(watermark) - timedelta(seconds=inc.lag_s)
    elif inc.initial:
        moment = parse_moment(inc.initial)
    else:
        return None
    return format_moment(moment, inc.param_format)


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
