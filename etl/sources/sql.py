"""A SQL source: one table or query of any SQLAlchemy database, read in cursor order in bounded batches.

What is read is decided by the mapping (`SqlSource`):

- `incremental` -> `WHERE cursor > watermark - lag ORDER BY cursor`. The cursor is a timestamp (or date)
  column, or an increasing integer key; `lag_s` re-reads the last seconds before the watermark because
  a writer whose transaction started earlier commits rows stamped in the past (PostgreSQL's `now()` is
  the transaction start). Re-read rows are harmless: the merge compares row hashes and counts them
  `unchanged`. Rows whose cursor is NULL are read by the first full run only.
- `window: data_interval` -> `WHERE cursor >= start AND cursor < end`, the run's data interval, so an
  Airflow backfill of past dates reads exactly those dates whatever the watermark says.
- neither -> the whole table (full refresh of a small reference table, write_mode replace).

Rows stream from the database (`stream_results`: a server-side cursor on PostgreSQL) and leave this
module as Arrow tables of at most `batch_rows` rows whose columns are all text, dates and timestamps in
ISO form, so memory stays flat however big the table. Naive timestamp columns are taken as UTC.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from etl import state
from etl.config.schema import SqlSource
from etl.dburl import with_driver  # psycopg2, not SQLAlchemy 2.1's default psycopg 3
from etl.sources.base import ExtractStats
from etl.sources.connections import ConnectionInfo

TEXT_STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLite (and SQLAlchemy's SQLite dialect) store timestamps


class SqlSourceError(ValueError):
    """The mapping asks for something this source cannot read; the message says what to change."""


def iter_batches(src: SqlSource, conn_info: ConnectionInfo, watermark: str | None, stats: ExtractStats,
                 ctx=None) -> Iterator[pa.Table]:
    """Raw text batches of the table or query; sets stats.records, .pages, .max_cursor (new watermark)."""
    engine = sa.create_engine(with_driver(conn_info.sqlalchemy_url()), poolclass=sa.pool.NullPool,
                              hide_parameters=True)  # rows (personal data) never in error texts
    try:
        statement, params = build_query(src, engine.dialect, watermark, ctx)
        cursor = src.incremental.cursor_field if src.incremental else None
        with engine.connect() as conn:
            try:
                result = conn.execution_options(stream_results=True, yield_per=src.batch_rows).execute(
                    statement, params)
            except sa.exc.DBAPIError as exc:
                setting = "table" if src.table else "query"
                hint = f" and incremental.cursor_field {cursor!r}" if cursor else ""
                raise SqlSourceError(f"the source {setting} could not be read ({_first_line(exc.orig)}); "
                                     f"check the mapping's source.{setting}{hint}") from exc
            names = list(result.keys())
            position = names.index(cursor) if cursor in names else None
            for rows in result.partitions(src.batch_rows):
                stats.records += len(rows)
                stats.pages += 1
                if position is not None and not src.window:
                    stats.max_cursor = _max_cursor(stats.max_cursor, rows, position)
                yield rows_to_table(names, rows)
    finally:
        engine.dispose()


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def build_query(src: SqlSource, dialect: sa.Dialect, watermark: str | None,
                ctx=None) -> tuple[sa.TextClause, dict]:
    """The SELECT for this run and its bound parameters (never values pasted into the SQL)."""
    quote = dialect.identifier_preparer.quote
    if src.table:
        relation = ".".join(quote(part) for part in src.table.split("."))
        base = f"SELECT * FROM {relation}"
    else:
        base = f"SELECT * FROM ({src.query.strip().rstrip(';')}) src"  # type: ignore[union-attr]
    if src.incremental is None:
        return sa.text(base), {}
    column = quote(src.incremental.cursor_field)
    order = f" ORDER BY {column}"
    if src.window:
        start, end = _interval(ctx)
        return (sa.text(f"{base} WHERE {column} >= :window_start AND {column} < :window_end{order}"),
                {"window_start": bind_value(start, dialect), "window_end": bind_value(end, dialect)})
    low = lower_bound(watermark or src.incremental.initial, src.incremental.lag_s)
    if low is None:
        return sa.text(base + order), {}
    return sa.text(f"{base} WHERE {column} > :low{order}"), {"low": bind_value(low, dialect)}


def lower_bound(watermark: str | None, lag_s: int) -> int | dt.datetime | None:
    """`etl.state.lower_bound`, with the error naming this source."""
    try:
        return state.lower_bound(watermark, lag_s)
    except ValueError as exc:
        raise SqlSourceError(str(exc)) from None


def _interval(ctx) -> tuple[dt.datetime, dt.datetime]:
    start = getattr(ctx, "data_interval_start", None)
    end = getattr(ctx, "data_interval_end", None)
    if not start or not end:
        raise SqlSourceError("window: data_interval needs the run's data interval (Airflow passes it; "
                             "in-process give RunContext(data_interval_start=..., data_interval_end=...))")
    low, high = state.naive_utc(dt.datetime.fromisoformat(start)), state.naive_utc(dt.datetime.fromisoformat(end))
    if low >= high:
        raise SqlSourceError(f"window: data_interval: the run's interval [{start}, {end}) is empty; "
                             "the DAG needs a data-interval timetable (the DAG factory uses one for "
                             "windowed sources)")
    return low, high


def bind_value(value: int | dt.datetime, dialect: sa.Dialect) -> Any:
    """SQLite keeps dates and timestamps as ISO text and compares them as text, so it gets text in its
    own format; a midnight bound as a bare date, so that '1997-05-19' (a DATE) is >= '1997-05-19'."""
    if dialect.name != "sqlite" or isinstance(value, int):
        return value
    if value.time() == dt.time(0):
        return value.date().isoformat()
    return value.strftime(TEXT_STAMP)


def _max_cursor(current: str | None, rows: Sequence[Sequence], position: int) -> str | None:
    """The larger of the watermark so far and this batch's largest cursor, as text."""
    values = [r[position] for r in rows if r[position] is not None]
    if not values:
        return current
    try:
        top = cell_text(max(values))
    except TypeError:  # SQLite lets a column mix types: compare their text
        top = max(str(v) for v in values)
    if current is None or top is None:
        return top or current
    try:
        return top if lower_bound(top, 0) > lower_bound(current, 0) else current  # type: ignore[operator]
    except TypeError:
        return max(top, current)


def cell_text(value: Any) -> str | None:
    """One database value as text: ISO for dates and timestamps, plain digits for numbers."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f") if "e" in repr(value) else repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def rows_to_table(names: list[str], rows: Sequence[Sequence]) -> pa.Table:
    """Column-wise to text: Arrow converts typed columns in C; mixed or exotic ones go value by value."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.table({name: _text_column(values) for name, values in zip(names, columns, strict=True)})


def _text_column(values: Sequence) -> pa.Array:
    try:
        arr = pa.array(values)
        if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type) or pa.types.is_nested(arr.type):
            raise TypeError("binary and nested values are written out by cell_text")
        return pc.cast(arr, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        return pa.array([cell_text(v) for v in values], pa.string())
