"""The ERP sync in-process from the demo ERP (Northwind) in SQLite into DuckDB and in PostgreSQL into
PostgreSQL: counts are Northwind's minus the rows without a USD rate, USD totals match an independent
computation, an idle run loads nothing, touched and added rows are picked up exactly, and a
data-interval window reads one day of orders as a backfill would."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal

import pytest
import sqlalchemy as sa

from demo.erp_db import add_orders, build_erp, touch_erp
from etl.config.loader import load_system, mappings_dir
from etl.config.schema import Incremental
from etl.load.warehouse import with_driver
from etl.steps import RunContext, run_entity
from tests.conftest import pg_sibling_database, reset_pg
from tests.helpers.warehouse import assert_invariant, rows, runs

NORTHWIND = {"customers": 91, "products": 77, "orders": 830, "order_lines": 2155, "invoices": 809,
             "sales_reps": 9, "categories": 8, "fx_rates": 5 * 544 - 4}  # 544 business days x 5 currencies, 4 BRL gaps
NO_RATE = {"10379": "2023-06-14", "10541": "2023-11-20", "10647": "2024-02-28", "10903": "2024-08-27",
           "10905": "2024-08-27"}  # BRL orders placed on the days the ERP has no BRL rate
CENT = Decimal("0.01")


def entities() -> dict:
    return load_system(mappings_dir() / "erp").entities  # dependency order: fx_rates before its users


def sync(warehouse: str, run_id: str, names=None, **ctx) -> dict:
    todo = {n: e for n, e in entities().items() if names is None or n in names}
    ctx = RunContext(run_id=run_id, warehouse_url=warehouse, **ctx)
    return {n: run_entity(e, ctx) for n, e in todo.items()}


def source_rows(url: str, sql: str, **params) -> list[tuple]:
    engine = sa.create_engine(with_driver(url), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def usd_total(erp_url: str, table: str, amount: str, day: str) -> Decimal:
    """Sum of amount -> USD computed apart from the pipeline: Python decimals, rate of the exact day."""
    rates = {(str(d)[:10], c): Decimal(str(r)).quantize(Decimal("0.000001"))
             for d, c, r in source_rows(erp_url, "SELECT rate_date, currency, rate_to_usd FROM fx_rates")}
    total = Decimal(0)
    for value, currency, when in source_rows(erp_url, f"SELECT {amount}, currency, {day} FROM {table}"):
        rate = Decimal(1) if currency == "USD" else rates.get((str(when)[:10], currency))
        if value is not None and rate is not None:
            total += (Decimal(str(value)).quantize(CENT, ROUND_HALF_UP) * rate).quantize(CENT, ROUND_HALF_UP)
    return total


def loaded_in(warehouse: str, table: str, key: str, run_id: str) -> set[str]:
    return {str(r[0]) for r in rows(warehouse, f"SELECT {key} FROM {table} WHERE _run_id = :r", r=run_id)}


@pytest.fixture(scope="module")
def sqlite_case(tmp_path_factory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("erp_sqlite")
    erp_url = f"sqlite:///{folder / 'erp.sqlite'}"
    build_erp(erp_url, seed=42)
    yield erp_url, f"duckdb:///{folder / 'warehouse.duckdb'}"


@pytest.fixture(scope="module")
def postgresql_case(pg_url) -> Iterator[tuple[str, str]]:
    """The ERP in database <test db>_erp, the warehouse in $ETL_TEST_PG_URL, both on the test server."""
    erp_url = pg_sibling_database(pg_url, "erp")
    build_erp(erp_url, seed=42)
    reset_pg(pg_url)
    yield erp_url, pg_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def case(request) -> Iterator[tuple[str, str]]:
    erp_url, warehouse = request.getfixturevalue(f"{request.param}_case")
    old = os.environ.get("AIRFLOW_CONN_ERP_DB")
    os.environ["AIRFLOW_CONN_ERP_DB"] = erp_url
    yield erp_url, warehouse
    if old is None:
        os.environ.pop("AIRFLOW_CONN_ERP_DB", None)
    else:
        os.environ["AIRFLOW_CONN_ERP_DB"] = old


def test_full_idle_and_incremental_runs(case):
    erp_url, warehouse = case
    no_rate_lines = {str(r[0]) for r in source_rows(
        erp_url, "SELECT line_id FROM order_details WHERE order_id IN (10379, 10541, 10647, 10903, 10905)")}

    # 1. full load: Northwind's counts, minus what has no USD rate (quarantined with the reason)
    sync(warehouse, "run-1")
    first = runs(warehouse, "run-1")
    quarantined = {"orders": len(NO_RATE), "order_lines": len(no_rate_lines)}
    for name, run in first.items():
        assert run["status"] == "success", run
        assert run["extracted"] == NORTHWIND[name], name
        assert (run["filtered"], run["quarantined"]) == (0, quarantined.get(name, 0)), name
        assert run["inserted"] == NORTHWIND[name] - quarantined.get(name, 0), name
        assert_invariant(run)
        target = f"stg_erp__{name}"
        assert rows(warehouse, f"SELECT count(*) FROM {target}") == [(run["inserted"],)]
    assert len(no_rate_lines) == 13
    refused = rows(warehouse, "SELECT primary_key, failed_rule, reason FROM etl_quarantine "
                              "WHERE run_id = 'run-1' AND entity = 'orders'")
    assert sorted(refused) == sorted((k, "conversion", f"no USD rate for BRL on {d}")
                                     for k, d in NO_RATE.items())

    # USD figures: the pipeline's totals equal an independent decimal computation; rate and date recorded
    (invoices_usd, missing_rate, wrong_day), = rows(warehouse, (
        "SELECT sum(total_amount_usd), sum(CASE WHEN total_amount_usd_rate IS NULL THEN 1 ELSE 0 END), "
        "sum(CASE WHEN total_amount_usd_rate_date <> invoice_date THEN 1 ELSE 0 END) FROM stg_erp__invoices"))
    assert Decimal(invoices_usd) == usd_total(erp_url, "invoices", "total_amount", "invoice_date")
    assert (missing_rate, wrong_day) == (0, 0)
    (freight_usd,), = rows(warehouse, "SELECT sum(freight_usd) FROM stg_erp__orders")
    assert Decimal(freight_usd) == usd_total(erp_url, "orders", "freight", "order_date")
    eur = rows(warehouse, "SELECT i.total_amount, i.total_amount_usd, i.total_amount_usd_rate, f.rate_to_usd "
                          "FROM stg_erp__invoices i JOIN stg_erp__fx_rates f ON f.rate_date = i.invoice_date "
                          "AND f.currency = i.currency WHERE i.invoice_id = 1")
    total, usd, rate, fx = eur[0]
    assert rate == fx and usd == (total * fx).quantize(CENT, ROUND_HALF_UP)

    # 2. nothing changed: nothing loaded (the 5 s lag re-reads the newest row, counted unchanged)
    sync(warehouse, "run-2")
    for name, run in runs(warehouse, "run-2").items():
        assert (run["inserted"], run["updated"]) == (0, 0), (name, run)
        assert run["extracted"] == run["unchanged"] + run["quarantined"], (name, run)
        assert run["extracted"] <= (NORTHWIND[name] if name in ("fx_rates", "categories") else 2), (name, run)

    # 3. touched rows and new orders are picked up, and only they
    customers = {str(k) for k in touch_erp(erp_url, "customers", 0.05, seed=3)}
    orders = {str(k) for k in touch_erp(erp_url, "orders", 0.03, seed=3)}
    lines = {str(k) for k in touch_erp(erp_url, "order_details", 0.01, seed=3)}
    new_orders = {str(k) for k in add_orders(erp_url, 3, seed=3)}
    new_lines = {str(r[0]) for r in source_rows(
        erp_url, "SELECT line_id FROM order_details WHERE order_id > 11077")}  # Northwind's last order
    retotalled = {str(r[0]) for r in source_rows(
        erp_url, "SELECT DISTINCT i.invoice_id FROM invoices i JOIN order_details d "
                 f"ON d.order_id = i.order_id WHERE d.line_id IN ({', '.join(lines)})")}
    sync(warehouse, "run-3", ["customers", "orders", "order_lines", "invoices"])
    third = runs(warehouse, "run-3")
    assert loaded_in(warehouse, "stg_erp__customers", "customer_id", "run-3") == customers
    reloaded_orders = loaded_in(warehouse, "stg_erp__orders", "order_id", "run-3")
    assert reloaded_orders == (orders | new_orders) - set(NO_RATE)
    reloaded_lines = loaded_in(warehouse, "stg_erp__order_lines", "line_id", "run-3")
    assert reloaded_lines == (lines | new_lines) - no_rate_lines
    assert third["customers"]["updated"] == len(customers)
    assert third["orders"]["inserted"] == 3 and third["invoices"]["inserted"] == 3
    assert third["orders"]["updated"] == len(orders - set(NO_RATE))
    assert third["orders"]["quarantined"] == len(orders & set(NO_RATE))
    invoices_now = loaded_in(warehouse, "stg_erp__invoices", "invoice_id", "run-3")
    assert len(invoices_now) == len(retotalled) + 3 and retotalled <= invoices_now
    for run in third.values():
        assert_invariant(run)
        assert run["extracted"] - run["unchanged"] == run["inserted"] + run["updated"] + run["quarantined"]
    statuses = dict(source_rows(erp_url, "SELECT customer_id, status FROM customers"))
    assert dict(rows(warehouse, "SELECT customer_id, status FROM stg_erp__customers")) == statuses


def test_window_reads_the_run_data_interval(sqlite_case, tmp_path, monkeypatch):
    """A backfill run for 2023-11-20 reads that day's orders, whatever the watermark says."""
    erp_url, _ = sqlite_case
    monkeypatch.setenv("AIRFLOW_CONN_ERP_DB", erp_url)
    orders = entities()["orders"]
    windowed = orders.model_copy(update={"source": orders.source.model_copy(update={
        "window": "data_interval", "incremental": Incremental(cursor_field="order_date")})})
    warehouse = f"duckdb:///{tmp_path / 'backfill.duckdb'}"
    run_entity(entities()["fx_rates"], RunContext(run_id="fx", warehouse_url=warehouse))
    ctx = RunContext(run_id="backfill-2023-11-20", warehouse_url=warehouse,
                     data_interval_start="2023-11-20T00:00:00+00:00",
                     data_interval_end="2023-11-21T00:00:00+00:00")
    result = run_entity(windowed, ctx)
    expected = {str(r[0]) for r in source_rows(
        erp_url, "SELECT order_id FROM orders WHERE order_date = '2023-11-20'")}
    assert result["extracted"] == len(expected) >= 2
    assert result["quarantined"] == 1  # 10541, BRL, no rate that day
    loaded = {str(r[0]) for r in rows(warehouse, "SELECT order_id FROM stg_erp__orders")}
    assert loaded == expected - {"10541"}
    assert rows(warehouse, "SELECT watermark FROM etl_state WHERE entity = 'orders'") == [(None,)]
