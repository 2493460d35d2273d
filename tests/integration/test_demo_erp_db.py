"""The demo ERP built for real, on SQLite and on PostgreSQL ($ETL_TEST_PG_URL, in a schema of its own).

Why: the ERP pipelines' incremental and currency logic is only as good as this source's promises --
Northwind complete, invoices consistent with their lines, updated_at moved by triggers, fx gaps where
documented, and the same data whichever database serves it. Without PostgreSQL the PostgreSQL cases
skip locally but fail when $CI is set, so CI can never pass without having tested PostgreSQL.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from demo import erp_db
from demo.erp_db import (
    KEYS,
    MISSING_FX_DATES,
    add_orders,
    build_erp,
    missing_fx_dates,
    row_counts,
    touch_erp,
)

PG_ENV, PG_SCHEMA = "ETL_TEST_PG_URL", "demo_erp_test"
NORTHWIND_COUNTS = {  # the dataset README's figures; test_counts_match_dump ties them to the SQL itself
    "categories": 8, "customer_customer_demo": 0, "customer_demographics": 0, "customers": 91,
    "employees": 9, "employee_territories": 49, "order_details": 2155, "orders": 830, "products": 77,
    "region": 4, "shippers": 6, "suppliers": 29, "territories": 53, "us_states": 51}
SHIPPED_ORDERS = 809  # 830 orders, 21 with NULL shipped_date


@dataclass(frozen=True)
class Built:
    url: str
    counts: dict[str, int]
    digest: str  # taken right after the build, before any test mutates the database


@cache
def _engine(url: str) -> Engine:
    return create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))


def _cell(value) -> str:
    """One canonical text per value: SQLite hands dates and timestamps back as text, PostgreSQL as objects."""
    if value is None:
        return "\\N"
    if isinstance(value, int | float | Decimal):
        return f"{float(value):.6f}"  # SQLite NUMERIC may hand back 440 where PostgreSQL says 440.00
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


def _digest(url: str) -> str:
    sha = hashlib.sha256()
    with _engine(url).connect() as conn:
        for table in [*NORTHWIND_COUNTS, "invoices", "fx_rates"]:
            rows = sorted("|".join(map(_cell, row)) for row in conn.execute(text(f"SELECT * FROM {table}")))
            sha.update(f"{table}:{len(rows)}:{'/'.join(rows)}".encode())
    return sha.hexdigest()


def _build(url: str) -> Built:
    counts = build_erp(url, seed=42)
    return Built(url, counts, _digest(url))


@pytest.fixture(scope="module")
def built_sqlite(tmp_path_factory) -> Built:
    return _build(f"sqlite:///{tmp_path_factory.mktemp('erp') / 'erp.sqlite'}")


@pytest.fixture(scope="module")
def built_postgresql() -> Iterator[Built]:
    """The ERP in its own schema of $ETL_TEST_PG_URL, a database the warehouse tests share and reset."""
    pg_url = os.environ.get(PG_ENV)
    if not pg_url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set: under CI the demo ERP must be tested on PostgreSQL")
        pytest.skip(f"{PG_ENV} is not set (a postgresql:// URL, e.g. from `make test`)")
    with _engine(pg_url).begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={PG_SCHEMA}"})
    yield _build(url.render_as_string(hide_password=False))
    with _engine(pg_url).begin() as conn:
        conn.execute(text(f"DROP SCHEMA {PG_SCHEMA} CASCADE"))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def erp(request) -> Built:
    return request.getfixturevalue(f"built_{request.param}")


def _rows(url: str, table: str) -> dict:
    with _engine(url).connect() as conn:
        return {row._mapping[KEYS[table]]: tuple(row) for row in conn.execute(text(f"SELECT * FROM {table}"))}


def _assert_invoices_consistent(url: str) -> None:
    with _engine(url).connect() as conn:
        shipped = conn.execute(text("SELECT order_id, customer_id, currency FROM orders "
                                    "WHERE shipped_date IS NOT NULL ORDER BY order_id")).all()
        invoiced = conn.execute(text("SELECT order_id, customer_id, currency FROM invoices "
                                     "ORDER BY order_id")).all()
        totals = conn.execute(text(
            "SELECT i.invoice_id, i.net_amount, i.tax_amount, i.total_amount, "
            "sum(d.unit_price * d.quantity * (1 - d.discount)) FROM invoices i "
            "JOIN order_details d ON d.order_id = i.order_id "
            "GROUP BY i.invoice_id, i.net_amount, i.tax_amount, i.total_amount")).all()
    assert invoiced == shipped
    assert len(totals) == len(invoiced)
    for invoice_id, net, tax, total, lines in totals:
        assert abs(float(net) - lines) <= 0.005 + 1e-9, invoice_id
        assert abs(float(total) - float(net) - float(tax)) < 1e-6, invoice_id


def test_counts_are_northwinds_plus_erp_tables(erp):
    assert {t: erp.counts[t] for t in NORTHWIND_COUNTS} == NORTHWIND_COUNTS
    assert erp.counts["invoices"] == SHIPPED_ORDERS
    assert erp.counts["fx_rates"] == 5 * 544 - len(MISSING_FX_DATES)  # 544 business days 2022-12..2024-12


def test_counts_match_dump():
    dump = erp_db.DUMP.read_text()
    from_dump = {t: len(re.findall(rf"^INSERT INTO {t} VALUES", dump, re.M)) for t in NORTHWIND_COUNTS}
    assert from_dump == NORTHWIND_COUNTS


def test_one_invoice_per_shipped_order_with_totals_from_lines(erp):
    _assert_invoices_consistent(erp.url)


def test_extra_columns_are_filled(erp):
    with _engine(erp.url).connect() as conn:
        assert conn.execute(text("SELECT email FROM employees WHERE employee_id = 1")).scalar_one() == \
            "jsingh@hr.example"  # the sales team is HR's sales department (demo/company.py)
        by_country = dict(conn.execute(text("SELECT DISTINCT country, currency FROM customers")).all())
        assert (by_country["Germany"], by_country["UK"], by_country["Brazil"], by_country["USA"]) == \
            ("EUR", "GBP", "BRL", "USD")
        assert conn.execute(text("SELECT count(*) FROM orders o JOIN customers c ON c.customer_id = "
                                 "o.customer_id WHERE o.currency <> c.currency")).scalar_one() == 0
        filters = conn.execute(text("SELECT DISTINCT lead_source, status FROM customers")).all()
        assert len(filters) == 8  # four sources x active/inactive
        for table in KEYS:
            outside_2024 = text(f"SELECT count(*) FROM {table} WHERE updated_at IS NULL "
                                "OR updated_at < '2024-01-01' OR updated_at >= '2025-01-01'")
            assert conn.execute(outside_2024).scalar_one() == 0, table


def test_missing_fx_dates_are_really_missing(erp):
    assert missing_fx_dates(erp.url) == list(MISSING_FX_DATES)
    with _engine(erp.url).connect() as conn:
        for currency, day in MISSING_FX_DATES:
            on_day = conn.execute(text("SELECT currency FROM fx_rates WHERE rate_date = :d"),
                                  {"d": day.isoformat()}).scalars().all()
            assert currency not in on_day and len(on_day) == 4
            assert conn.execute(text("SELECT count(*) FROM orders WHERE currency = :c AND order_date = :d"),
                                {"c": currency, "d": day.isoformat()}).scalar_one() >= 1


@pytest.mark.postgres
def test_same_data_on_both_dialects(built_sqlite, built_postgresql):
    assert built_sqlite.counts == built_postgresql.counts
    assert built_sqlite.digest == built_postgresql.digest


@pytest.mark.parametrize("table", list(KEYS))
def test_update_bumps_updated_at_unless_set(erp, table):
    key = KEYS[table]
    with _engine(erp.url).begin() as conn:
        first, second = conn.execute(text(f"SELECT {key} FROM {table} ORDER BY {key} LIMIT 2")).scalars()
        read = text(f"SELECT updated_at FROM {table} WHERE {key} = :k")
        before = [conn.execute(read, {"k": k}).scalar_one() for k in (first, second)]
        conn.execute(text(f"UPDATE {table} SET {key} = {key} WHERE {key} = :k"), {"k": first})
        assert str(conn.execute(read, {"k": first}).scalar_one()) > "2025"
        assert conn.execute(read, {"k": second}).scalar_one() == before[1]
        conn.execute(text(f"UPDATE {table} SET updated_at = '2030-01-02 03:04:05.000000' WHERE {key} = :k"),
                     {"k": second})
        assert str(conn.execute(read, {"k": second}).scalar_one()).startswith("2030-01-02 03:04:05")


@pytest.mark.parametrize("table", list(KEYS))
def test_touch_erp_changes_exactly_the_returned_rows(erp, table):
    before = _rows(erp.url, table)
    touched = touch_erp(erp.url, table, fraction=0.1, seed=7)
    after = _rows(erp.url, table)
    assert len(touched) == max(1, round(0.1 * len(before)))
    assert {k for k in after if after[k] != before[k]} == set(touched)
    updated_at = after[touched[0]][-1]  # updated_at is the last column of every tracked table
    assert str(updated_at) > "2025"
    assert touch_erp(erp.url, table, fraction=0.1, seed=7) == touched  # deterministic
    _assert_invoices_consistent(erp.url)


def test_touch_erp_rejects_unknown_table(built_sqlite):
    with pytest.raises(ValueError, match=r"touch_erp: unknown table 'fx_rates'; expected one of"):
        touch_erp(built_sqlite.url, "fx_rates", 0.1, seed=1)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\], got 0"):
        touch_erp(built_sqlite.url, "orders", 0, seed=1)


def test_add_orders_adds_lines_and_invoices(erp):
    before = row_counts(erp.url)
    last_order = max(_rows(erp.url, "orders"))
    new_ids = add_orders(erp.url, 5, seed=3)
    after = row_counts(erp.url)
    assert new_ids == list(range(last_order + 1, last_order + 6))
    assert (after["orders"] - before["orders"], after["invoices"] - before["invoices"]) == (5, 5)
    assert 5 <= after["order_details"] - before["order_details"] <= 20
    assert all(str(_rows(erp.url, "orders")[i][-1]) > "2025" for i in new_ids)
    _assert_invoices_consistent(erp.url)


def test_rebuild_restores_the_same_data(erp):
    """Runs after the mutating tests: drop-and-recreate gives back exactly the first build."""
    assert build_erp(erp.url, seed=42) == erp.counts
    assert _digest(erp.url) == erp.digest


def test_cli_builds_into_a_new_directory(tmp_path, capsys):
    erp_db.main(["--url", f"sqlite:///{tmp_path / 'var' / 'demo' / 'erp.sqlite'}", "--seed", "42"])
    printed = dict(line.split() for line in capsys.readouterr().out.splitlines())
    assert printed["orders"] == "830" and printed["invoices"] == str(SHIPPED_ORDERS)
