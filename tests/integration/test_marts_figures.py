"""The new marts' figures on a small hand-made fixture, checked against numbers computed here
independently: pandas for RFM, service times, product sales, receivables and customer 360, mlxtend's
apriori + association_rules for the products bought together. Never the marts' own SQL.

The fixture is written straight into the staging tables (as the loads would leave them), on DuckDB and
PostgreSQL; both must give the same rows and both must match the independent figures.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from etl.identity.crosswalk import build_crosswalks
from etl.load.warehouse import transaction
from etl.models.build import build_models
from etl.models.settings import load_settings
from etl.models.staging import ensure_staging_tables
from tests.conftest import pg_sibling_database
from tests.helpers.warehouse import rows

AS_OF = dt.date(2024, 12, 20)  # the latest order date of the fixture (analytics.yml: as_of_date: latest)
CUSTOMERS = [f"C{i}" for i in range(1, 9)]
PRODUCTS = {1: ("Chai", 1), 2: ("Chang", 1), 3: ("Aniseed Syrup", 2), 4: ("Tofu", 3), 5: ("Ikura", 3),
            6: ("Konbu", 3)}
CATEGORIES = {1: "Beverages", 2: "Condiments", 3: "Produce"}


def _fixture() -> dict[str, list[dict]]:
    rng = random.Random(11)
    orders, lines, invoices = [], [], []
    for order_id in range(1, 61):
        customer = CUSTOMERS[rng.randrange(7)]  # C8 never orders
        day = AS_OF - dt.timedelta(days=rng.randrange(700)) if order_id > 1 else AS_OF
        orders.append({"order_id": order_id, "customer_id": customer, "employee_id": 1, "order_date": day,
                       "currency": "USD"})
        basket = rng.sample(sorted(PRODUCTS), rng.randint(1, 4))
        if 1 in basket and rng.random() < 0.7 and 2 not in basket:
            basket.append(2)  # Chai pulls Chang along: a rule the miner must find
        net = Decimal(0)
        for product in basket:
            price, qty = Decimal(rng.randint(5, 60)), rng.randint(1, 10)
            disc = Decimal(rng.choice(("0", "0.1", "0.25")))
            lines.append({"line_id": len(lines) + 1, "order_id": order_id, "product_id": product,
                          "unit_price": price, "quantity": qty, "discount": disc, "currency": "USD",
                          "order_date": day, "unit_price_usd": price, "unit_price_usd_rate": Decimal(1),
                          "unit_price_usd_rate_date": day})
            net += price * qty * (1 - disc)
        due = day + dt.timedelta(days=30)
        status = rng.choice(("paid", "paid", "open"))
        total = (net * Decimal("1.1")).quantize(Decimal("0.01"))
        invoices.append({"invoice_id": order_id, "order_id": order_id, "customer_id": customer,
                         "invoice_date": day, "due_date": due, "currency": "USD", "total_amount": total,
                         "total_amount_usd": None if order_id == 7 else total, "status": status})
    invoices[6]["status"] = "open"  # the invoice without a USD amount is unpaid: its customer's totals are unknown
    companies = [{"id": str(i), "name": f"Company {i}", "erp_customer_code": f"C{i}", "owner_id": str(1 + i % 2),
                  "lifecycle_stage": "customer", "customer_tier": "gold"} for i in range(1, 5)]
    contacts = [{"id": str(100 + i), "first_name": "A", "last_name": f"Person{i}",
                 "company_id": str(1 + i % 4)} for i in range(8)] + [{"id": "200", "first_name": "No",
                                                                       "last_name": "Company", "company_id": None}]
    stages, priorities = ("new", "waiting", "in_progress", "closed"), ("LOW", "MEDIUM", "HIGH")
    categories = ("PRODUCT_ISSUE", "BILLING_ISSUE", None)
    tickets = []
    for tid in range(1, 41):
        opened = dt.datetime(2024, 11, 1) + dt.timedelta(minutes=rng.randrange(40_000))
        stage = stages[rng.randrange(4)]
        reply = opened + dt.timedelta(minutes=rng.randint(3, 900)) if stage != "new" else None
        closed = reply + dt.timedelta(minutes=rng.randint(1, 3000)) if stage == "closed" else None
        named = rng.random() < 0.5
        contact = contacts[rng.randrange(len(contacts))]["id"]
        tickets.append({"id": str(tid), "subject": "s", "stage": stage, "priority": priorities[tid % 3],
                        "category": categories[rng.randrange(3)], "opened_at": opened, "first_response_at": reply,
                        "closed_at": closed, "contact_id": contact,
                        "company_id": str(1 + rng.randrange(4)) if named else None, "owner_id": "1"})
    owners = [{"id": "1", "email": "jrussel@hr.example", "first_name": "John", "last_name": "Russell",
               "full_name": "John Russell"},
              {"id": "2", "email": "nobody@elsewhere.example", "first_name": "Ann", "last_name": "Other",
               "full_name": "Ann Other"}]
    employees = [{"employee_id": 145, "first_name": "John", "last_name": "Russell",
                  "person_email": "john.russell@hr.example", "work_email": "jrussel@hr.example",
                  "department_id": 80, "job_id": "SA_MAN", "user_name": "JRUSSEL"}]
    return {
        "stg_erp__customers": [{"customer_id": c, "company_name": f"Company {c[1:]}", "status": "active",
                                "currency": "USD"} for c in CUSTOMERS],
        "stg_erp__categories": [{"category_id": k, "category_name": v} for k, v in CATEGORIES.items()],
        "stg_erp__products": [{"product_id": k, "product_name": n, "category_id": c}
                              for k, (n, c) in PRODUCTS.items()],
        "stg_erp__orders": orders, "stg_erp__order_lines": lines, "stg_erp__invoices": invoices,
        "stg_crm__companies": companies, "stg_crm__contacts": contacts, "stg_crm__tickets": tickets,
        "stg_crm__owners": owners, "stg_hr__employees": employees,
        "stg_hr__departments": [{"department_id": 80, "department_name": "Sales"}],
        "stg_hr__jobs": [{"job_id": "SA_MAN", "job_title": "Sales Manager"}],
    }


def _load(url: str, data: dict[str, list[dict]]) -> None:
    with transaction(url) as conn:
        ensure_staging_tables(conn)
        for table, records in data.items():
            conn.execute(sa.text(f"DELETE FROM {table}"))
            columns = list(records[0])
            conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                 f"({', '.join(':' + c for c in columns)})"), records)


@pytest.fixture(scope="module")
def marts(tmp_path_factory, pg_url) -> dict:
    folder = tmp_path_factory.mktemp("marts")
    overrides = folder / "overrides.yml"
    overrides.write_text("customers: []\npeople: []\n")
    urls = {"duckdb": f"duckdb:///{folder / 'w.duckdb'}", "postgres": pg_sibling_database(pg_url, "marts")}
    data = _fixture()
    for url in urls.values():
        _load(url, data)
        build_crosswalks(url, overrides)
        build_models(url)
    frames = {t: pd.DataFrame(r) for t, r in data.items()}
    return {"urls": urls, "data": frames}


def _table(url: str, table: str) -> pd.DataFrame:
    from etl.layers import schema_of

    names = [c for (c,) in rows(url, "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                                     "AND table_schema = :s ORDER BY ordinal_position", t=table, s=schema_of(table))]
    return pd.DataFrame(rows(url, f"SELECT * FROM {table}"), columns=names)


def _net(data) -> pd.DataFrame:
    lines = data["stg_erp__order_lines"].copy()
    lines["net"] = [float(p * q * (1 - d)) for p, q, d in
                    zip(lines.unit_price, lines.quantity, lines.discount, strict=True)]
    orders = data["stg_erp__orders"][["order_id", "customer_id"]]
    return lines.merge(orders, on="order_id")


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_customer_value_matches_pandas(marts, warehouse):
    lines = _net(marts["data"])
    per_order = lines.groupby(["customer_id", "order_id"]).agg(day=("order_date", "min"), net=("net", "sum"))
    per_customer = per_order.groupby("customer_id").agg(last=("day", "max"), frequency=("net", "size"),
                                                        monetary=("net", "sum"))
    per_customer["recency"] = [(AS_OF - d).days for d in per_customer["last"]]

    def score(values: pd.Series, ascending: bool) -> pd.Series:  # quintile of the percent rank, ties equal
        ranks = values.rank(method="min", ascending=ascending)
        return ranks.map(lambda r: 1 + min(4, math.floor((r - 1) / (len(values) - 1) * 5)))

    per_customer["r"] = score(per_customer["recency"], ascending=False)
    per_customer["f"] = score(per_customer["frequency"], ascending=True)
    per_customer["m"] = score(per_customer["monetary"], ascending=True)
    segments = load_settings().rfm.segments

    def segment(r, f, m) -> str | None:
        for s in segments:
            if all(rng is None or rng[0] <= v <= rng[1] for v, rng in ((r, s.r), (f, s.f), (m, s.m))):
                return s.segment
        return None

    mart = _table(marts["urls"][warehouse], "mart_customer_value").set_index("customer_key")
    assert list(mart.columns[:7]) == ["recency_days", "frequency", "monetary", "r_score", "f_score", "m_score",
                                      "segment"]
    assert sorted(mart.index) == [f"erp:{c}" for c in sorted(per_customer.index)]  # C8 never ordered
    for cid, exp in per_customer.iterrows():
        got = mart.loc[f"erp:{cid}"]
        assert (got.recency_days, got.frequency) == (exp.recency, exp.frequency), cid
        assert float(got.monetary) == pytest.approx(exp.monetary, abs=0.005), cid
        assert (got.r_score, got.f_score, got.m_score) == (exp.r, exp.f, exp.m), cid
        assert got.segment == segment(exp.r, exp.f, exp.m), cid
        assert got.as_of_date == AS_OF


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_product_associations_match_mlxtend(marts, warehouse):
    from mlxtend.frequent_patterns import apriori, association_rules

    lines = marts["data"]["stg_erp__order_lines"]
    names = {k: n for k, (n, _) in PRODUCTS.items()}
    onehot = pd.crosstab(lines.order_id, lines.product_id.map(names)).astype(bool)
    t = load_settings().associations
    itemsets = apriori(onehot, min_support=t.min_support, use_colnames=True, max_len=2)
    rules = association_rules(itemsets, metric="confidence", min_threshold=t.min_confidence)
    rules = rules[(rules.lift >= t.min_lift) & (rules.support * len(onehot) >= t.min_baskets - 1e-9)]
    expected = {(next(iter(r.antecedents)), next(iter(r.consequents))): r for r in rules.itertuples()}
    mart = _table(marts["urls"][warehouse], "mart_product_associations")
    got = {(r.antecedent, r.consequent): r for r in mart.itertuples()}
    assert set(got) == set(expected) and ("Chai", "Chang") in got
    for pair, exp in expected.items():
        assert float(got[pair].support) == pytest.approx(exp.support, abs=1e-6), pair
        assert float(got[pair].confidence) == pytest.approx(exp.confidence, abs=1e-6), pair
        assert float(got[pair].lift) == pytest.approx(exp.lift, abs=1e-4), pair
        assert got[pair].baskets == round(exp.support * len(onehot)), pair


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_service_matches_pandas(marts, warehouse):
    t = marts["data"]["stg_crm__tickets"].copy()
    t["first"] = (t.first_response_at - t.opened_at).dt.total_seconds() / 3600
    t["resolve"] = (t.closed_at - t.opened_at).dt.total_seconds() / 3600
    t["category"] = t["category"].fillna("(none)")
    mart = _table(marts["urls"][warehouse], "mart_service")
    mart["category"] = mart["category"].fillna("(none)")
    mart = mart.set_index(["category", "priority"])
    assert len(mart) == t.groupby(["category", "priority"]).ngroups
    for (cat, prio), g in t.groupby(["category", "priority"]):
        got = mart.loc[(cat, prio)]
        assert got.tickets == len(g) and got.open_tickets == (g.stage != "closed").sum()
        assert got.unanswered_tickets == g.first_response_at.isna().sum()
        for column, values in (("hours_to_first_response", g["first"].round(2)),
                               ("hours_to_resolution", g["resolve"].round(2))):
            for stat, value in (("avg", values.mean()), ("median", values.median())):
                value = None if pd.isna(value) else round(value, 2)
                actual = got[f"{stat}_{column}"]
                assert (None if actual is None or pd.isna(actual) else float(actual)) == pytest.approx(
                    value, abs=0.011), (cat, prio, stat, column)


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_product_sales_by_name_match_pandas(marts, warehouse):
    lines = _net(marts["data"])
    lines["product"] = lines.product_id.map(lambda k: PRODUCTS[k][0])
    lines["category"] = lines.product_id.map(lambda k: CATEGORIES[PRODUCTS[k][1]])
    mart = _table(marts["urls"][warehouse], "mart_product_sales")
    by_category = mart.groupby("category_name").revenue_usd.sum().map(float)
    expected = lines.groupby("category").net.sum()
    assert set(by_category.index) == set(expected.index) == set(CATEGORIES.values())
    for name, value in expected.items():
        assert by_category[name] == pytest.approx(value, abs=0.05), name
    units = mart.groupby("product_name").units.sum()
    assert units.to_dict() == lines.groupby("product").quantity.sum().to_dict()


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_receivables_match_pandas(marts, warehouse):
    inv = marts["data"]["stg_erp__invoices"].copy()
    inv = inv[inv.status != "paid"]
    inv["late"] = [(AS_OF - d).days for d in inv.due_date]
    mart = _table(marts["urls"][warehouse], "mart_receivables").set_index("customer_key")
    buckets = {"current_usd": (-10_000, 0), "past_due_1_30_usd": (1, 30), "past_due_31_60_usd": (31, 60),
               "past_due_61_90_usd": (61, 90), "past_due_over_90_usd": (91, 10_000)}
    unknown = set(inv[inv.total_amount_usd.isna()].customer_id)
    assert unknown, "the fixture has an unpaid invoice without a USD amount"
    for cid, g in inv.groupby("customer_id"):
        got = mart.loc[f"erp:{cid}"]
        assert got.outstanding_invoices == len(g) and got.overdue_invoices == (g.late > 0).sum()
        if cid in unknown:  # unknown is null, never 0.00
            assert got.outstanding_usd is None and got.invoices_without_usd == 1
            continue
        assert got.outstanding_usd == sum(g.total_amount_usd)
        assert got.overdue_usd == sum(g[g.late > 0].total_amount_usd, Decimal(0))
        for column, (low, high) in buckets.items():
            assert got[column] == sum(g[(g.late >= low) & (g.late <= high)].total_amount_usd, Decimal(0)), column


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_customer_360_tickets_fall_back_to_the_contact_and_t12m_revenue(marts, warehouse):
    data = marts["data"]
    contacts = data["stg_crm__contacts"].set_index("id").company_id
    t = data["stg_crm__tickets"]
    company = t.company_id.fillna(t.contact_id.map(contacts))
    assert (t.company_id.isna() & company.notna()).sum() >= 5, "the fixture has contact-only tickets"
    expected_tickets = company.value_counts()
    lines = _net(data)
    recent = lines[(lines.order_date > AS_OF - dt.timedelta(days=366)) & (lines.order_date <= AS_OF)]
    t12m = recent.groupby("customer_id").net.sum()
    mart = _table(marts["urls"][warehouse], "mart_customer_360").set_index("customer_key")
    for crm_id in ("1", "2", "3", "4"):
        got = mart.loc[f"erp:C{crm_id}"]
        assert got.tickets == expected_tickets.get(crm_id, 0), crm_id
        assert float(got.revenue_t12m_usd) == pytest.approx(t12m.get(f"C{crm_id}", 0), abs=0.01), crm_id
    # owner 1 is John Russell, found in HR (Sales) by work e-mail; owner 2 is nobody in HR: null, not a guess
    assert pd.isna(mart.loc["erp:C1", "account_owner_department"])
    assert mart.loc["erp:C2", "account_owner_department"] == "Sales"


@pytest.mark.postgres
def test_both_warehouses_give_the_same_marts(marts):
    duck, pg = marts["urls"]["duckdb"], marts["urls"]["postgres"]
    for table in ("mart_customer_value", "mart_product_associations", "mart_service", "mart_product_sales",
                  "mart_receivables", "mart_customer_360", "fct_tickets", "fct_invoices"):
        a = _table(duck, table).astype(str).sort_values(by=list(_table(duck, table).columns)).values.tolist()
        b = _table(pg, table).astype(str).sort_values(by=list(_table(pg, table).columns)).values.tolist()
        assert a == b, table


@pytest.mark.postgres
def test_analyst_reads_core_and_marts_only(marts, monkeypatch):
    """Logged in as `analyst` (the role the build creates and grants), core and marts are readable;
    staging (hashed PII and all), quarantine and control tables are refused by PostgreSQL itself."""
    from etl.load.audit import ensure_control_tables

    url = marts["urls"]["postgres"]
    monkeypatch.setenv("ETL_ANALYST_PASSWORD", "analyst-test-secret")
    with transaction(url) as conn:
        ensure_control_tables(conn)
    build_models(url)  # the build creates the role, with LOGIN since a password is set, and grants
    analyst = sa.engine.make_url(url).set(username="analyst", password="analyst-test-secret")
    engine = sa.create_engine(analyst, poolclass=sa.pool.NullPool)
    allowed = ["mart_customer_value", "mart_customer_360", "mart_product_associations", "dim_customer",
               "fct_sales", "crm_contacts", "marts.mart_sales", "core.fct_deals"]
    refused = ["staging.stg_crm__contacts", "staging.stg_erp__invoices", "staging.stg_hr__employees",
               "etl.etl_runs", "etl.etl_quarantine", "etl.etl_state", "core.xwalk_review", "etl.model_settings"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT current_user")).scalar_one() == "analyst"
        for table in allowed:  # bare names through the database's search path, or schema-qualified
            conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
        usable = conn.execute(sa.text("SELECT nspname FROM pg_namespace WHERE nspname IN "
                                      "('staging', 'core', 'marts', 'etl') AND has_schema_privilege(nspname, 'USAGE')"))
        assert sorted(r[0] for r in usable) == ["core", "marts"]
    for table in refused:
        with engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            conn.execute(sa.text(f"SELECT * FROM {table} LIMIT 1"))
    for table in ("stg_crm__contacts", "etl_runs", "etl_quarantine"):  # schemas it may not use are skipped
        with engine.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="does not exist"):
            conn.execute(sa.text(f"SELECT * FROM {table} LIMIT 1"))
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_columns_carry_the_documented_meaning_as_database_comments(marts, warehouse):
    from etl.models.build import discover

    url = marts["urls"][warehouse]
    # DuckDB: on the table in its schema and on its read-through view in main (what a BI tool lists)
    sql = {"duckdb": "SELECT schema_name, comment FROM duckdb_columns() WHERE table_name = :t AND column_name = :c "
                     "ORDER BY schema_name",
           "postgres": "SELECT c.relnamespace::regnamespace::text, col_description(c.oid, a.attnum) FROM pg_class c "
                       "JOIN pg_attribute a ON a.attrelid = c.oid WHERE c.relname = :t AND a.attname = :c"}[warehouse]
    segment = discover()["mart_customer_value"].columns["segment"]
    category = "PRODUCT_ISSUE, BILLING_ISSUE, FEATURE_REQUEST or GENERAL_INQUIRY"
    views = ["main"] if warehouse == "duckdb" else []
    assert rows(url, sql, t="mart_customer_value", c="segment") == [(s, segment) for s in [*views, "marts"]]
    assert rows(url, sql, t="stg_crm__tickets", c="category") == [(s, category) for s in [*views, "staging"]]


def test_duckdb_readers_use_a_snapshot_that_never_blocks_a_build(marts):
    """A reader holding the published snapshot open (another process, as an analyst's notebook would)
    does not hold up the next build; the snapshot has the analysts' tables only, and is replaced whole."""
    import json
    import subprocess
    import sys
    import time

    from etl.models.build import discover
    from etl.models.snapshot import publish_snapshot, snapshot_path

    url = marts["urls"]["duckdb"]
    tables = [n for n, m in discover().items() if m.layer in ("core", "history", "marts")]
    published = publish_snapshot(tables, url)
    path = snapshot_path(url)
    assert published["path"] == str(path) and path.exists()
    reader = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
         "print(c.execute('SELECT count(*) FROM mart_customer_value').fetchone()[0], flush=True); time.sleep(30); "
         "print(c.execute('SELECT count(*) FROM mart_customer_value').fetchone()[0], flush=True)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        first = reader.stdout.readline().strip()
        started = time.monotonic()
        build_models(url)  # writes the warehouse while the reader is connected to the snapshot
        again = publish_snapshot(tables, url)
        assert time.monotonic() - started < 25, "the build waited for the reader"
    finally:
        reader.terminate()
        reader.wait()
    assert first == str(rows(url, "SELECT count(*) FROM mart_customer_value")[0][0])
    snap = subprocess.run([sys.executable, "-c", "import duckdb, json, sys; print(json.dumps([r[0] for r in "
                           "duckdb.connect(sys.argv[1], read_only=True).execute('SHOW TABLES').fetchall()]))",
                           str(path)], capture_output=True, text=True, check=True).stdout
    names = json.loads(snap)
    assert set(names) == set(tables) and not [n for n in names if n.startswith(("stg_", "etl_", "xwalk_"))]
    import duckdb

    with duckdb.connect(str(path), read_only=True) as snapshot:  # the warehouse's layout: a schema per layer
        placed = snapshot.execute("SELECT table_schema, table_name, table_type FROM information_schema.tables "
                                  "WHERE table_catalog = current_database()").fetchall()
    assert {(s, n) for s, n, kind in placed if kind == "BASE TABLE"} == {
        ("marts" if n.startswith("mart_") else "core", n) for n in tables}
    assert {n for s, n, kind in placed if kind == "VIEW" and s == "main"} == set(tables)
    assert not path.with_name(path.name + ".partial").exists()
    print(f"snapshot of {again['tables']} tables published in {again['seconds']}s")


def test_the_readme_questions_run_on_the_snapshot(marts, capsys):
    """The README's analyst section, run as written against a published snapshot."""
    import re

    from etl.models.build import discover
    from etl.models.snapshot import publish_snapshot
    from tests.conftest import ROOT

    url = marts["urls"]["duckdb"]
    path = publish_snapshot(list(discover()), url)["path"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## For analysts"):readme.index("## Production")]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert code.count("db.sql(") >= 5
    exec(code.replace('"warehouse.read.duckdb"', repr(path)), {})  # noqa: S102 - the README's own example
    shown = capsys.readouterr().out
    assert "segment" in shown and "antecedent" in shown and "Chai" in shown and "from_stage" in shown
