"""The SQL source on a small SQLite file: bounded batches, the incremental predicate (with lag), the
data-interval window, full refresh, values as text, and the errors a mapping author can see."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from etl.config.schema import SqlSource
from etl.sources.base import ExtractStats
from etl.sources.connections import parse_connection
from etl.sources.sql import SqlSourceError, build_query, iter_batches, lower_bound
from etl.steps import RunContext

START = dt.datetime(2024, 1, 1, 0, 0, 0)


@pytest.fixture
def db(tmp_path):
    """25 rows: id 1..25, updated_at one minute apart from 2024-01-01 00:01, as SQLite stores them."""
    path = tmp_path / "src.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC(10,2), "
                             "day DATE, blob BLOB, updated_at TIMESTAMP)"))
        conn.execute(sa.text("INSERT INTO items VALUES (:i, :n, :p, :d, :b, :u)"), [
            {"i": i, "n": f"item {i}", "p": 1.5 * i, "d": (dt.date(2024, 1, 1) + dt.timedelta(i)).isoformat(),
             "b": bytes([i, 255]), "u": (START + dt.timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S.%f")}
            for i in range(1, 26)])
    engine.dispose()
    return parse_connection("src", f"sqlite:///{path}")


def src(**kw) -> SqlSource:
    return SqlSource.model_validate({"connection": "src", **kw})


def read(source: SqlSource, conn, watermark=None, ctx=None) -> tuple[list[pa.Table], ExtractStats]:
    stats = ExtractStats()
    return list(iter_batches(source, conn, watermark, stats, ctx)), stats


def ids(batches: list[pa.Table]) -> list[int]:
    return [int(v) for b in batches for v in b["id"].to_pylist()]


def test_batches_are_bounded_and_counted(db):
    batches, stats = read(src(table="items", batch_rows=10, incremental={"cursor_field": "updated_at"}), db)
    assert [b.num_rows for b in batches] == [10, 10, 5]
    assert (stats.records, stats.pages) == (25, 3)
    assert ids(batches) == list(range(1, 26))  # ordered by the cursor
    assert stats.max_cursor == "2024-01-01 00:25:00.000000"


def test_batches_stream_one_at_a_time(db):
    """The next batch is not fetched before the consumer asks for it: memory holds one batch."""
    stats = ExtractStats()
    gen = iter_batches(src(table="items", batch_rows=4), db, None, stats)
    first = next(gen)
    assert first.num_rows == 4 and stats.records == 4
    gen.close()


def test_all_values_are_text_dates_iso(db):
    batches, _ = read(src(table="items", batch_rows=100), db)
    table = batches[0]
    assert all(f.type == pa.string() for f in table.schema)
    row = table.slice(0, 1).to_pylist()[0]
    assert row == {"id": "1", "name": "item 1", "price": "1.5", "day": "2024-01-02", "blob": "01ff",
                   "updated_at": "2024-01-01 00:01:00.000000"}


def test_incremental_reads_after_watermark_minus_lag(db):
    watermark = "2024-01-01 00:20:00.000000"
    batches, stats = read(src(table="items", incremental={"cursor_field": "updated_at"}), db, watermark)
    assert ids(batches) == [21, 22, 23, 24, 25]
    lagged = src(table="items", incremental={"cursor_field": "updated_at", "lag_s": 130})
    batches, stats = read(lagged, db, watermark)
    assert ids(batches) == [18, 19, 20, 21, 22, 23, 24, 25]  # 00:17:50 < 00:18, so 18 is re-read, 17 is not
    assert stats.max_cursor == "2024-01-01 00:25:00.000000"


def test_no_new_rows_keeps_the_watermark(db):
    batches, stats = read(src(table="items", incremental={"cursor_field": "updated_at"}), db,
                          "2024-01-01 00:25:00.000000")
    assert batches == [] and stats.max_cursor is None and stats.records == 0


def test_integer_key_cursor_and_initial(db):
    by_key = src(table="items", incremental={"cursor_field": "id", "lag_s": 600})
    batches, stats = read(by_key, db, "22")
    assert ids(batches) == [23, 24, 25] and stats.max_cursor == "25"  # lag applies to timestamps only
    initial = src(table="items", incremental={"cursor_field": "updated_at", "initial": "2024-01-01T00:23:00"})
    assert ids(read(initial, db)[0]) == [24, 25]


def test_query_source_is_wrapped_and_filtered(db):
    query = src(query="SELECT id, updated_at FROM items WHERE id % 2 = 0;",
                incremental={"cursor_field": "updated_at"})
    batches, _ = read(query, db, "2024-01-01 00:19:00")
    assert ids(batches) == [20, 22, 24]
    assert batches[0].column_names == ["id", "updated_at"]


def test_predicate_sql_and_bound_values_per_dialect():
    from sqlalchemy.dialects import postgresql, sqlite

    source = src(table="erp.orders", incremental={"cursor_field": "updated_at", "lag_s": 5})
    stmt, params = build_query(source, postgresql.dialect(), "2024-03-01 12:00:03.250000")
    assert str(stmt) == 'SELECT * FROM erp.orders WHERE updated_at > :low ORDER BY updated_at'
    assert params == {"low": dt.datetime(2024, 3, 1, 11, 59, 58, 250000)}
    stmt, params = build_query(source, sqlite.dialect(), "2024-03-01T12:00:05+01:00")
    assert params == {"low": "2024-03-01 11:00:00.000000"}  # UTC minus the lag, in SQLite's text format
    stmt, params = build_query(src(table="t"), sqlite.dialect(), "2024-03-01")
    assert str(stmt) == "SELECT * FROM t" and params == {}  # no incremental: full refresh


def test_midnight_bounds_compare_equal_to_dates_on_sqlite():
    from sqlalchemy.dialects import sqlite

    source = src(table="t", incremental={"cursor_field": "order_date"})
    assert build_query(source, sqlite.dialect(), "1997-05-19")[1] == {"low": "1997-05-19"}


def test_window_reads_the_data_interval_not_the_watermark(db):
    windowed = src(table="items", window="data_interval", incremental={"cursor_field": "updated_at"})
    ctx = RunContext(run_id="r", data_interval_start="2024-01-01T01:05:00+01:00",  # 00:05 UTC
                     data_interval_end="2024-01-01T00:10:00+00:00")
    batches, stats = read(windowed, db, "2024-01-01 00:24:00", ctx)
    assert ids(batches) == [5, 6, 7, 8, 9]  # [start, end): 00:10 itself belongs to the next run
    assert stats.max_cursor is None  # a backfill never moves the incremental watermark


def test_window_on_a_date_column_includes_the_start_day(db):
    windowed = src(table="items", window="data_interval", incremental={"cursor_field": "day"})
    ctx = RunContext(run_id="r", data_interval_start="2024-01-05T00:00:00+00:00",
                     data_interval_end="2024-01-07T00:00:00+00:00")
    assert ids(read(windowed, db, None, ctx)[0]) == [4, 5]  # days 01-05 and 01-06


def test_window_without_an_interval_says_what_is_missing(db):
    windowed = src(table="items", window="data_interval", incremental={"cursor_field": "updated_at"})
    with pytest.raises(SqlSourceError, match="needs the run's data interval"):
        read(windowed, db, None, RunContext(run_id="manual"))
    instant = RunContext(run_id="trigger", data_interval_start="2024-01-01T00:00:00+00:00",
                         data_interval_end="2024-01-01T00:00:00+00:00")
    with pytest.raises(SqlSourceError, match="is empty; the DAG needs a data-interval timetable"):
        read(windowed, db, None, instant)


@pytest.mark.parametrize(("config", "message"), [
    ({"table": "t", "query": "SELECT 1"}, "exactly one of 'table' or 'query'"),
    ({}, "exactly one of 'table' or 'query'"),
    ({"table": "t", "window": "data_interval"}, "window: data_interval needs incremental.cursor_field"),
    ({"table": "t", "window": "last_week"}, "Input should be 'data_interval'"),
])
def test_invalid_sql_source_configs(config, message):
    with pytest.raises(ValidationError, match=message):
        src(**config)


def test_unknown_cursor_column_and_bad_watermark(db):
    with pytest.raises(SqlSourceError, match="incremental.cursor_field 'changed'"):
        read(src(query="SELECT id, updated_at AS changed_at FROM items",
                 incremental={"cursor_field": "changed"}), db, None)
    with pytest.raises(SqlSourceError, match="neither an integer key nor an ISO timestamp"):
        lower_bound("yesterday", 0)
