"""SCD type 2 history, built incrementally across warehouse_models builds, on DuckDB and PostgreSQL; and
the pipeline-over-time mart on it, against figures worked out by hand below."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from etl.identity.crosswalk import build_crosswalks
from etl.load.warehouse import transaction
from etl.models.build import build_models
from etl.models.staging import ensure_staging_tables
from tests.conftest import pg_sibling_database
from tests.helpers.warehouse import rows

T0 = dt.datetime(2024, 1, 1, 9, 0)


def _day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def _deal(i: int, stage: str, day: float) -> dict:
    return {"id": str(i), "name": f"Deal {i}", "pipeline": "default", "stage": stage, "amount": 100,
            "currency": "USD", "close_date": dt.date(2024, 6, 1), "company_id": "1", "owner_id": "1",
            "created_at": T0, "updated_at": _day(day)}


def _write(url: str, table: str, records: list[dict]) -> None:
    with transaction(url) as conn:
        ensure_staging_tables(conn)
        conn.execute(sa.text(f"DELETE FROM {table}"))
        cols = list(records[0])
        conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"),
                     records)


def _company(owner: str, tier: str, day: float) -> list[dict]:
    return [{"id": "1", "name": "Acme", "owner_id": owner, "lifecycle_stage": "customer", "customer_tier": tier,
             "updated_at": _day(day)}]


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def history(request, tmp_path_factory) -> dict:
    if request.param == "postgres":
        url = pg_sibling_database(request.getfixturevalue("pg_url"), "history")
    else:
        url = f"duckdb:///{tmp_path_factory.mktemp('history') / 'w.duckdb'}"
    overrides = tmp_path_factory.mktemp("overrides") / "overrides.yml"
    overrides.write_text("customers: []\npeople: []\n")

    def build(deals: list[dict], company: list[dict]) -> dict:
        _write(url, "stg_crm__deals", deals)
        _write(url, "stg_crm__companies", company)
        _write(url, "stg_crm__owners", [{"id": i, "full_name": f"Owner {i}"} for i in ("1", "2")])
        build_crosswalks(url, overrides)
        return build_models(url)

    # build 1: three deals seen for the first time
    build([_deal(1, "appointmentscheduled", 0), _deal(2, "appointmentscheduled", 0),
           _deal(3, "qualifiedtobuy", 0)], _company("1", "silver", 0))
    # build 2: deals 1 and 2 move on after 2 and 4 days; the customer changes owner
    build([_deal(1, "qualifiedtobuy", 2), _deal(2, "closedlost", 4), _deal(3, "qualifiedtobuy", 0)],
          _company("2", "silver", 3))
    # build 3: deal 1 is won 6 days later; nothing else changed (deal 3 re-read unchanged)
    build([_deal(1, "closedwon", 8), _deal(2, "closedlost", 4), _deal(3, "qualifiedtobuy", 0)],
          _company("2", "gold", 10))
    before = rows(url, "SELECT * FROM hist_deal_stage ORDER BY deal_id, valid_from")
    # build 4: the same data again changes nothing
    build([_deal(1, "closedwon", 8), _deal(2, "closedlost", 4), _deal(3, "qualifiedtobuy", 0)],
          _company("2", "gold", 10))
    return {"url": url, "before": before}


@pytest.mark.postgres
def test_deal_stage_history_is_scd2_and_incremental(history):
    url = history["url"]
    got = rows(url, "SELECT deal_id, stage, valid_from, valid_to, is_current FROM hist_deal_stage "
                    "ORDER BY deal_id, valid_from")
    assert got == [
        ("1", "appointmentscheduled", _day(0), _day(2), False),
        ("1", "qualifiedtobuy", _day(2), _day(8), False),
        ("1", "closedwon", _day(8), None, True),
        ("2", "appointmentscheduled", _day(0), _day(4), False),
        ("2", "closedlost", _day(4), None, True),
        ("3", "qualifiedtobuy", _day(0), None, True),
    ]
    assert rows(url, "SELECT * FROM hist_deal_stage ORDER BY deal_id, valid_from") == history["before"]


@pytest.mark.postgres
def test_customer_owner_lifecycle_and_tier_history(history):
    got = rows(history["url"], "SELECT account_owner_key, customer_tier, valid_from, valid_to, is_current "
                               "FROM hist_customer ORDER BY valid_from")
    assert got == [("crm:1", "silver", _day(0), _day(3), False), ("crm:2", "silver", _day(3), _day(10), False),
                   ("crm:2", "gold", _day(10), None, True)]


@pytest.mark.postgres
def test_pipeline_flow_conversion_and_days_in_stage(history):
    got = {(f, t): (n, e, float(rate), days and float(days)) for f, t, n, e, rate, days in rows(
        history["url"], "SELECT from_stage, to_stage, deals, entered, conversion_rate, avg_days_in_stage "
                        "FROM mart_pipeline_flow")}
    # by hand: 2 deals entered appointmentscheduled; one went on to qualifiedtobuy after 2 days, one was
    # lost after 4. qualifiedtobuy was entered by deals 1 and 3: deal 1 won after 6 days, deal 3 stays.
    assert got == {
        ("appointmentscheduled", "qualifiedtobuy"): (1, 2, 0.5, 2.0),
        ("appointmentscheduled", "closedlost"): (1, 2, 0.5, 4.0),
        ("qualifiedtobuy", "closedwon"): (1, 2, 0.5, 6.0),
        ("qualifiedtobuy", None): (1, 2, 0.5, None),
        ("closedwon", None): (1, 1, 1.0, None),
        ("closedlost", None): (1, 1, 1.0, None),
    }
