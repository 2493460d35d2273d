"""The four worked examples on the demo systems' own data, as `make demo` wires them (in-process here):
the inbound syncs of crm, erp, hr and oa, the crosswalks and models, then the four shipped pushes.

Everything is read back from the targets themselves (the OA and HR APIs, the ERP database) and compared
with what the warehouse says should be there, computed here in plain SQL, not by the push code:
- first run: OA customers are the active CRM companies, ERP orders are the won deals in the ERP's date
  format, integer cents and currency with the ERP's own order number kept, HR key accounts carry the
  HR employee id of the CRM owner through xwalk_person, the marketing list is exactly the "online
  promotion" contacts; a second full run sends zero write requests to every target;
- a change made in the CRM itself (its /_admin/mutate), synced inbound and through the models, goes out
  as exactly the records whose sent content changed, and the run after it sends nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa

from demo import sources
from etl.config.outbound import load_syncs
from etl.push.run import push
from tests.conftest import CRM_TOKEN
from tests.helpers.pipeline import sync_system
from tests.helpers.warehouse import rows

SYNCS = ("crm_customers", "won_deals", "key_accounts", "online_promotion_list")
ACTIVE = ("customer", "evangelist")


class RestTarget:
    """A demo REST target reached the way the pushes reach it: the URL of its Airflow connection."""

    def __init__(self, conn_url: str, basic: bool) -> None:
        parts = urlsplit(conn_url)
        self.base = f"{parts.scheme}://{parts.hostname}:{parts.port}"
        self.auth = (parts.username, parts.password) if basic else None
        self.headers = {} if basic else {"Authorization": f"Bearer {parts.password}"}

    def records(self, collection: str) -> dict[str, dict]:
        answer = requests.get(f"{self.base}/api/v1/{collection}", auth=self.auth, headers=self.headers, timeout=60)
        answer.raise_for_status()
        return {r.pop("external_id"): r for r in answer.json()["data"]}

    def writes(self) -> dict:
        return requests.get(f"{self.base}/_admin/writes", timeout=30).json()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The demo systems running, their data synced into a fresh DuckDB warehouse, models built."""
    from demo.process import start_demo_server
    from etl.identity.crosswalk import build_crosswalks
    from etl.models.build import build_models

    tmp = tmp_path_factory.mktemp("push-demo")
    url = f"duckdb:///{tmp / 'warehouse.duckdb'}"
    with pytest.MonkeyPatch.context() as mp, contextlib.ExitStack() as stack:
        mp.setenv("ETL_WAREHOUSE_URL", url)
        mp.setenv("ETL_DATA_DIR", str(tmp / "var"))
        crm = stack.enter_context(start_demo_server("crm", seed=42, scale=0.2, token=CRM_TOKEN))
        mp.setenv("AIRFLOW_CONN_CRM_API", f"http://:{CRM_TOKEN}@{crm.url.removeprefix('http://')}")
        for system in ("erp", "hr", "oa"):
            for key, value in stack.enter_context(sources.start(system, tmp)).items():
                mp.setenv(key, value)
        for system in ("crm", "erp", "hr", "oa"):
            sync_system(system, url, "inbound-1")
        build_crosswalks(url)
        build_models(url)
        yield {"url": url, "crm": crm, "oa": RestTarget(os.environ["AIRFLOW_CONN_OA_API"], basic=False),
               "hr": RestTarget(os.environ["AIRFLOW_CONN_HR_API"], basic=True),
               "erp": os.environ["AIRFLOW_CONN_ERP_DB"]}


def push_all(url: str, run_id: str) -> dict[str, dict]:
    syncs = load_syncs()
    out = {}
    for name in SYNCS:
        result = push(syncs[name], run_id, url)
        assert result.status == "success", (name, result.error)
        c = result.counts
        assert c["selected"] == c["created"] + c["updated"] + c["unchanged"] + c["rejected"], (name, c)
        out[name] = {**c, "requests": result.requests}
    return out


def erp_orders(erp_url: str) -> dict[str, tuple]:
    engine = sa.create_engine(erp_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(sa.text(
            "SELECT crm_deal_id, order_no, order_date, amount_minor, currency, deal_name FROM sales_orders"))}


def rejected_keys(url: str, run_id: str, sync: str) -> set[str]:
    return {k for (k,) in rows(url, "SELECT key FROM etl_push_rejects WHERE run_id = :r AND sync = :s",
                               r=run_id, s=sync)}


def snapshot(world) -> dict[str, dict]:
    return {"crm_customers": world["oa"].records("customers"),
            "online_promotion_list": world["oa"].records("marketing_list_members"),
            "key_accounts": world["hr"].records("key_accounts"),
            "won_deals": erp_orders(world["erp"])}


def expected_cents(url: str) -> dict[str, int]:
    """Won deals in US cents at the ERP's rate of the close date (or the latest one up to 4 days before)."""
    deals = rows(url, "SELECT id, amount, currency, CAST(close_date AS DATE) FROM stg_crm__deals WHERE is_won")
    rates = {(d, c): Decimal(str(r)) for d, c, r in rows(
        url, "SELECT CAST(rate_date AS DATE), currency, rate_to_usd FROM stg_erp__fx_rates")}
    out = {}
    for deal_id, amount, currency, day in deals:
        code = currency.strip().upper()
        found = [rates[(day - dt.timedelta(days=back), code)] for back in range(5)
                 if (day - dt.timedelta(days=back), code) in rates]
        rate = Decimal(1) if code == "USD" else (found[0] if found else None)
        if rate is not None and amount is not None:
            usd = (Decimal(str(amount)).quantize(Decimal("0.01")) * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
            out[deal_id] = int(usd * 100)
    return out


def test_the_four_examples_on_demo_data_then_a_second_run_sends_nothing(world):
    url = world["url"]
    first = push_all(url, "p1")
    held = snapshot(world)

    # 1. CRM customers -> OA: exactly the active companies (minus what the OA refused, with its reason)
    active = {f"C-{i}" for (i,) in rows(url, "SELECT id FROM stg_crm__companies WHERE lifecycle_stage IN "
                                             f"{ACTIVE}")}
    refused = rejected_keys(url, "p1", "crm_customers")
    assert first["crm_customers"]["created"] == len(held["crm_customers"]) > 0
    assert set(held["crm_customers"]) == active - refused
    created = dict(rows(url, "SELECT 'C-' || id, strftime(CAST(created_at AS DATE), '%Y/%m/%d') "
                             "FROM stg_crm__companies"))
    assert all(r["customer_since"] == created[k] for k, r in held["crm_customers"].items())

    # 2. won deals -> ERP: YYYYMMDD, integer US cents at the close date's rate, USD, the ERP's order_no kept
    orders, cents = held["won_deals"], expected_cents(url)
    won = {i for (i,) in rows(url, "SELECT id FROM stg_crm__deals WHERE is_won")}
    assert set(orders) == won - rejected_keys(url, "p1", "won_deals") and orders
    close = dict(rows(url, "SELECT id, strftime(CAST(close_date AS DATE), '%Y%m%d') FROM stg_crm__deals"))
    for deal, (_, order_date, amount_minor, currency, _) in orders.items():
        assert (order_date, currency) == (close[deal], "USD")
        assert isinstance(amount_minor, int) and amount_minor == cents[deal], deal
    state = dict(rows(url, "SELECT key, target_id FROM etl_push_state WHERE sync = 'won_deals' AND hash IS NOT NULL"))
    assert state == {deal: str(o[0]) for deal, o in orders.items()}  # the ERP's own order number

    # 3. key accounts -> HR: the CRM owner's HR employee id, found through the person crosswalk
    manager = dict(rows(url, """
        SELECT c.id, CAST(h.record_id AS INTEGER) FROM stg_crm__companies c
        JOIN xwalk_person p ON p.system = 'crm' AND p.record_id = c.owner_id
        JOIN xwalk_person h ON h.person_id = p.person_id AND h.system = 'hr'
        WHERE c.customer_tier IN ('gold', 'platinum')"""))
    accounts = held["key_accounts"]
    assert accounts and {k: r["account_manager_id"] for k, r in accounts.items()} == {k: manager[k] for k in accounts}
    hr_ids = {i for (i,) in rows(url, "SELECT CAST(employee_id AS INTEGER) FROM stg_hr__employees")}
    assert {r["account_manager_id"] for r in accounts.values()} <= hr_ids
    key_accounts = {i for (i,) in rows(url, "SELECT id FROM stg_crm__companies WHERE customer_tier IN "
                                            "('gold', 'platinum')")}
    assert set(accounts) == key_accounts - rejected_keys(url, "p1", "key_accounts")

    # 4. the audience: exactly the contacts whose lead source is online promotion
    members = held["online_promotion_list"]
    audience = {i for (i,) in rows(url, "SELECT id FROM stg_crm__contacts WHERE lead_source = 'online_promotion'")}
    assert members and set(members) == audience - rejected_keys(url, "p1", "online_promotion_list")
    assert {r["list"] for r in members.values()} == {"online-promotion"}

    # a second full run: nothing changed, nothing sent (counted at the servers and in the ERP)
    before = {"oa": world["oa"].writes(), "hr": world["hr"].writes()}
    second = push_all(url, "p2")
    assert world["oa"].writes() == before["oa"] and world["hr"].writes() == before["hr"]
    assert snapshot(world) == held
    for name, counts in second.items():
        assert (counts["created"], counts["updated"], counts["deleted"], counts["requests"]) == (0, 0, 0, 0), name


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def test_a_change_made_in_the_crm_goes_out_as_exactly_those_updates(world):
    from etl.identity.crosswalk import build_crosswalks
    from etl.models.build import build_models

    url = world["url"]
    push_all(url, "c0")  # in step with the warehouse (a no-op after the test above)
    sent_cols = "name, city, country, customer_tier, CAST(created_at AS DATE)"
    companies = f"SELECT id, lifecycle_stage IN {ACTIVE}, {sent_cols} FROM stg_crm__companies"
    stg_before = {r[0]: r[1:] for r in rows(url, companies)}
    held = snapshot(world)
    written = {"oa": world["oa"].writes(), "hr": world["hr"].writes()}

    change = world["crm"].admin("/_admin/mutate", json={"fraction": 0.2, "new": 3,
                                                        "entities": ["companies", "deals"]})
    mutated = set(change["changed_ids"]["companies"]) | set(change["added_ids"]["companies"])
    sync_system("crm", url, "inbound-2")
    build_crosswalks(url)
    build_models(url)
    counts = push_all(url, "c1")
    now = snapshot(world)

    # OA customers: exactly the active companies whose sent fields changed (or that became active)
    stg_after = {r[0]: r[1:] for r in rows(url, companies)}
    expected = {f"C-{i}" for i, r in stg_after.items() if r[0] and (i not in stg_before or not stg_before[i][0]
                                                                     or stg_before[i][1:] != r[1:])}
    expected -= rejected_keys(url, "c1", "crm_customers")
    changed = _changed(held["crm_customers"], now["crm_customers"])
    assert changed and changed == expected and {k[2:] for k in changed} <= mutated
    assert counts["crm_customers"]["created"] + counts["crm_customers"]["updated"] == len(expected)
    oa_written = world["oa"].writes()["records_written"] - written["oa"]["records_written"]
    assert oa_written == len(expected)  # the audience is untouched: contacts did not change

    # ERP and HR: only mutated records moved; the same ERP order numbers, no new row for a known deal
    erp_changed = _changed(held["won_deals"], now["won_deals"])
    assert erp_changed  # the mutation moved some deals (amount, stage): a seeded, deterministic share
    assert erp_changed <= set(change["changed_ids"]["deals"]) | set(change["added_ids"]["deals"])
    assert all(now["won_deals"][d][0] == held["won_deals"][d][0] for d in erp_changed if d in held["won_deals"])
    assert counts["won_deals"]["created"] + counts["won_deals"]["updated"] == len(erp_changed)
    hr_changed = _changed(held["key_accounts"], now["key_accounts"])
    assert hr_changed and hr_changed <= mutated
    assert counts["key_accounts"]["created"] + counts["key_accounts"]["updated"] == len(hr_changed)
    hr_written = world["hr"].writes()["records_written"] - written["hr"]["records_written"]
    assert hr_written == len(hr_changed)

    # and the run after that sends nothing at all
    idle = {"oa": world["oa"].writes(), "hr": world["hr"].writes()}
    again = push_all(url, "c2")
    assert world["oa"].writes() == idle["oa"] and world["hr"].writes() == idle["hr"]
    assert all(c["requests"] == 0 for c in again.values()) and snapshot(world) == now


def test_the_readme_example_runs_as_written_against_the_demo_hr_system(world, tmp_path):
    from tests.helpers.push import readme_example

    url = world["url"]
    (sync,) = load_syncs(readme_example(tmp_path)).values()
    result = push(sync, "readme-1", url)
    members = world["hr"].records("marketing_list_members")
    audience = {i for (i,) in rows(url, "SELECT id FROM stg_crm__contacts WHERE lead_source = 'trade_show'")}
    assert result.status == "success" and members and result.counts["rejected"] == 0
    assert set(members) == audience and {r["list"] for r in members.values()} == {"trade-show"}
    before = world["hr"].writes()
    assert push(sync, "readme-2", url).requests == 0 and world["hr"].writes() == before
