"""The SQL target (won deals -> the demo ERP's sales_orders) and relationship mapping (key accounts ->
the demo HR system through xwalk_person), each read back from the target itself."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest

from etl.config.outbound import load_syncs
from etl.push.run import push
from tests.conftest import reset_pg
from tests.helpers.push import execute, put_table, sales_orders, sqlite_erp, target_records
from tests.helpers.warehouse import rows

DEAL_TYPES = {"amount": "DECIMAL(18,2)", "close_date": "DATE", "is_won": "BOOLEAN"}


@pytest.fixture
def erp_db(tmp_path):
    with sqlite_erp(tmp_path, "erp_db") as url:
        yield url


def erp_orders(url: str) -> dict[str, tuple]:
    return sales_orders(url, "order_no, customer_id, order_date, amount_minor, currency")


def warehouse(url: str) -> None:
    deals = [
        {"id": "d1", "name": "Big deal", "amount": Decimal("100.00"), "currency": "EUR",
         "close_date": dt.date(2024, 3, 5), "is_won": True, "company_id": "c1"},
        {"id": "d2", "name": "Weekend deal", "amount": Decimal("10.01"), "currency": "USD",
         "close_date": dt.date(2024, 3, 9), "is_won": True, "company_id": "c2"},
        {"id": "d3", "name": "Refund", "amount": Decimal("-5.00"), "currency": "USD",
         "close_date": dt.date(2024, 3, 5), "is_won": True, "company_id": "c1"},
        {"id": "d4", "name": "Lost", "amount": Decimal("7.00"), "currency": "USD",
         "close_date": dt.date(2024, 3, 5), "is_won": False, "company_id": "c1"},
        {"id": "d5", "name": "No rate", "amount": Decimal("7.00"), "currency": "BRL",
         "close_date": dt.date(2024, 3, 5), "is_won": True, "company_id": "c1"},
    ]
    put_table(url, "stg_crm__deals", deals, DEAL_TYPES)
    put_table(url, "xwalk_customer", [{"crm_company_id": "c1", "erp_customer_id": "ALFKI"}])
    rates = [{"rate_date": dt.date(2024, 3, d), "currency": c, "rate_to_usd": Decimal(r)}
             for d in (4, 5, 6, 7, 8) for c, r in (("USD", "1"), ("EUR", "1.085"))]
    put_table(url, "stg_erp__fx_rates", rates, {"rate_date": "DATE", "rate_to_usd": "DECIMAL(18,6)"})


@pytest.mark.postgres
@pytest.mark.parametrize("source", ["duckdb", "postgres"])
def test_won_deals_become_erp_orders_in_the_erp_format(erp_db, source, tmp_duckdb_url, pg_url):
    url = tmp_duckdb_url if source == "duckdb" else pg_url
    if source == "postgres":
        reset_pg(pg_url)
    warehouse(url)
    sync = load_syncs()["won_deals"]
    first = push(sync, "w1", url)
    orders = erp_orders(erp_db)
    assert set(orders) == {"d1", "d2"}
    assert orders["d1"][1:] == ("ALFKI", "20240305", 10850, "USD")  # 100 EUR at 1.085, in cents
    assert orders["d2"][1:] == (None, "20240309", 1001, "USD")  # Saturday: Friday's rate (max_age_days)
    state = dict(rows(url, "SELECT key, target_id FROM etl_push_state WHERE sync = 'won_deals' AND hash IS NOT NULL"))
    assert state == {"d1": str(orders["d1"][0]), "d2": str(orders["d2"][0])}  # the ERP's own order numbers
    reasons = dict(rows(url, "SELECT key, reason FROM etl_push_rejects WHERE run_id = 'w1'"))
    assert "CHECK constraint failed" in reasons["d3"] and "amount_minor" in reasons["d3"]
    assert reasons["d5"].startswith("conversion") or "no USD rate for BRL on 2024-03-05" in reasons["d5"]
    assert first.counts == {"selected": 4, "created": 2, "updated": 0, "deleted": 0, "unchanged": 0,
                            "rejected": 2, "filtered": 1}

    execute(url, "UPDATE stg_crm__deals SET amount = 200 WHERE id = 'd1'")
    second = push(sync, "w2", url)
    after = erp_orders(erp_db)
    assert (second.counts["updated"], second.counts["created"]) == (1, 0)
    assert after["d1"][0] == orders["d1"][0] and after["d1"][3] == 21700  # same ERP order, new amount
    idle = push(sync, "w3", url)  # d3 was refused with this very content: not sent again until it changes
    assert idle.requests == 0 and idle.counts["unchanged"] == 2 and idle.counts["rejected"] == 2
    assert "refused before with this same content" in dict(
        rows(url, "SELECT key, reason FROM etl_push_rejects WHERE run_id = 'w3'"))["d3"]
    execute(url, "UPDATE stg_crm__deals SET amount = 5 WHERE id = 'd3'")  # the fix
    fixed = push(sync, "w4", url)
    assert fixed.counts["created"] == 1 and erp_orders(erp_db)["d3"][3] == 500


@pytest.fixture
def hr():
    from demo.process import start_demo_server

    with start_demo_server("hr", user="hr", password="pw", sales_team=True) as srv:
        os.environ["AIRFLOW_CONN_HR_API"] = f"http://hr:pw@{srv.url.removeprefix('http://')}"
        yield srv
        os.environ.pop("AIRFLOW_CONN_HR_API", None)


def test_key_accounts_reach_hr_with_the_owner_mapped_through_the_person_crosswalk(hr, tmp_duckdb_url):
    url = tmp_duckdb_url
    companies = [{"id": str(i), "name": f"Account {i}", "customer_tier": "platinum", "annual_revenue": "1000",
                  "country": "France", "owner_id": owner} for i, owner in enumerate(["1", "1", "2", "3", "4"], 1)]
    companies.append({**companies[0], "id": "9", "customer_tier": "bronze"})  # not a key account
    put_table(url, "stg_crm__companies", companies)
    put_table(url, "xwalk_person", [
        {"person_id": "hr:301", "system": "hr", "record_id": "301"},
        {"person_id": "hr:301", "system": "crm", "record_id": "1"},  # owner 1 is HR employee 301
        {"person_id": "hr:302", "system": "hr", "record_id": "302"},
        {"person_id": "hr:302", "system": "hr", "record_id": "303"},  # two HR records: ambiguous
        {"person_id": "hr:302", "system": "crm", "record_id": "3"},
        {"person_id": "hr:999", "system": "hr", "record_id": "999"},  # linked, but HR has no such employee
        {"person_id": "hr:999", "system": "crm", "record_id": "4"},
    ])
    result = push(load_syncs()["key_accounts"], "k1", url)
    held = target_records(hr, "key_accounts", auth=("hr", "pw"))
    assert {k: r["account_manager_id"] for k, r in held.items()} == {"1": 301, "2": 301}
    reasons = dict(rows(url, "SELECT key, reason FROM etl_push_rejects WHERE run_id = 'k1'"))
    assert reasons == {
        "3": "relationship: no hr record linked to crm owner_id '2' in xwalk_person",
        "4": "relationship: crm owner_id '3' links to several hr records in xwalk_person",
        "5": "422: account_manager_id: is not an HR employee id",  # the target's own reason
    }
    assert result.counts["selected"] == 5 and result.counts["created"] == 2 and result.counts["filtered"] == 1
    writes_before = hr.admin("/_admin/writes")["write_requests"]
    execute(url, "INSERT INTO xwalk_person VALUES ('hr:301', 'crm', '2')")  # the crosswalk learns owner 2
    again = push(load_syncs()["key_accounts"], "k2", url)
    assert again.counts["created"] == 1 and target_records(hr, "key_accounts", auth=("hr", "pw"))["3"][
        "account_manager_id"] == 301
    # account 3, and account 5 again (resend_rejected: always: HR may hire the manager meanwhile)
    assert hr.admin("/_admin/writes")["write_requests"] - writes_before == 2


def _read_drop(path) -> list[list]:
    if path.suffix == ".csv":
        import csv

        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.reader(fh))
    from openpyxl import load_workbook

    return [[str(v) for v in row] for row in load_workbook(path).active.iter_rows(values_only=True)]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_file_target_drops_one_complete_file_per_run_and_none_when_idle(tmp_path, tmp_duckdb_url, fmt):
    from tests.helpers.push import sync_of

    url, folder = tmp_duckdb_url, tmp_path / "import"
    put_table(url, "people", [{"id": str(i), "last_name": f"L{i}"} for i in range(3)])
    sync = sync_of(source={"table": "people"}, key=["contact_no"], columns={"contact_no": {"source": "id"},
                   "last_name": {}}, target={"kind": "file", "folder": str(folder), "format": fmt})
    assert push(sync, "f1", url).counts["created"] == 3
    assert [p.name for p in folder.iterdir()] == [f"test_sync_f1.{fmt}"]  # no temporary file left behind
    assert _read_drop(folder / f"test_sync_f1.{fmt}") == [
        ["external_id", "contact_no", "last_name"], ["0", "0", "L0"], ["1", "1", "L1"], ["2", "2", "L2"]]
    idle = push(sync, "f2", url)
    assert idle.requests == 0 and idle.counts["unchanged"] == 3 and len(list(folder.iterdir())) == 1
    execute(url, "UPDATE people SET last_name = 'New' WHERE id = '1'")
    assert push(sync, "f3", url).counts["updated"] == 1
    assert _read_drop(folder / f"test_sync_f3.{fmt}") == [["external_id", "contact_no", "last_name"], ["1", "1", "New"]]


def test_mode_update_changes_what_the_target_holds_and_never_creates(tmp_duckdb_url):
    from tests.helpers.push import oa_server, sync_of

    url = tmp_duckdb_url
    columns = {"contact_no": {"source": "id"}, "last_name": {}, "list": {"default": "l"}}
    target = {"kind": "rest", "connection": "test_oa", "path": "/api/v1/marketing_list_members/{key}"}
    put_table(url, "people", [{"id": str(i), "last_name": f"L{i}"} for i in range(3)])
    with oa_server() as srv:
        push(sync_of(sync="seed", source={"table": "people"}, key=["contact_no"], columns=columns, target=target),
             "u0", url)
        put_table(url, "people", [{"id": str(i), "last_name": f"N{i}"} for i in range(5)])
        update = sync_of(sync="names", mode="update", source={"table": "people"}, key=["contact_no"],
                         columns=columns, target=target, quality={"max_reject_share": 0.5})
        result = push(update, "u1", url)
        held = target_records(srv, "marketing_list_members")
    assert {k: r["last_name"] for k, r in held.items()} == {"0": "N0", "1": "N1", "2": "N2"}
    assert (result.counts["updated"], result.counts["created"], result.counts["rejected"]) == (3, 0, 2)
    assert dict(rows(url, "SELECT key, reason FROM etl_push_rejects WHERE run_id = 'u1'")) == {
        "3": "412: not in the target (mode update never creates)",
        "4": "412: not in the target (mode update never creates)"}
