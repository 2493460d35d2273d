"""Two CRMs in one warehouse (the demo HubSpot-style CRM and Salesforce, as after an acquisition) feed
the same conformed core tables and the same marts: each CRM adds rows, no SQL is written for the
second one. Figures are checked against the two staging tables, not against the models' own SQL."""

from __future__ import annotations

import shutil
from decimal import Decimal

from etl.identity.crosswalk import build_crosswalks
from etl.models.build import build_models
from tests.crm_servers import start_vendor
from tests.helpers.pipeline import sync_system
from tests.helpers.warehouse import rows


def test_two_crms_feed_the_conformed_tables_and_one_mart(crm_server, tmp_path, monkeypatch) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree("mappings", mappings)
    shutil.copytree("presets/salesforce", mappings / "salesforce")  # the "Add a CRM" step
    monkeypatch.setenv("ETL_MAPPINGS_DIR", str(mappings))
    url = f"duckdb:///{tmp_path / 'two.duckdb'}"
    with start_vendor("salesforce", monkeypatch) as sf:
        sync_system("crm", url, "crm-1")
        sync_system("salesforce", url, "sf-1")
    build_crosswalks(url)
    counts = build_models(url)

    demo_deals = rows(url, "SELECT count(*) FROM stg_crm__deals")[0][0]
    assert demo_deals > 0 and counts["crm_deals"] == demo_deals + len(sf.store.objects["deals"])
    by_system = dict(rows(url, "SELECT source_system, count(*) FROM fct_deals GROUP BY 1"))
    assert by_system == {"crm": demo_deals, "salesforce": len(sf.store.objects["deals"])}
    for table, demo, salesforce in [("crm_accounts", "companies", "accounts"), ("crm_contacts", "contacts", "contacts"),
                                    ("crm_users", "owners", "users"), ("crm_tickets", "tickets", "tickets")]:
        got = dict(rows(url, f"SELECT source_system, count(*) FROM {table} GROUP BY 1"))
        assert got == {"crm": rows(url, f"SELECT count(*) FROM stg_crm__{demo}")[0][0],
                       "salesforce": rows(url, f"SELECT count(*) FROM stg_salesforce__{salesforce}")[0][0]}

    # mart_pipeline: the deals and amounts of both CRMs, per currency, as the staging tables hold them
    mart = dict(rows(url, "SELECT currency, sum(deals) FROM mart_pipeline GROUP BY 1"))
    expected: dict[str, int] = {}
    for currency, n in rows(url, "SELECT currency, count(*) FROM stg_crm__deals GROUP BY 1") + rows(
            url, "SELECT currency, count(*) FROM stg_salesforce__deals GROUP BY 1"):
        expected[currency] = expected.get(currency, 0) + n
    assert mart == expected
    mart_amount = rows(url, "SELECT sum(amount) FROM mart_pipeline")[0][0]
    stg_amount = rows(url, "SELECT (SELECT coalesce(sum(amount), 0) FROM stg_crm__deals) "
                           "+ (SELECT sum(amount) FROM stg_salesforce__deals)")[0][0]
    assert Decimal(mart_amount) == Decimal(stg_amount)
    won_sf = sum(d["won"] for d in sf.store.objects["deals"])
    assert rows(url, "SELECT count(*) FROM fct_deals WHERE source_system = 'salesforce' AND is_won")[0][0] == won_sf
