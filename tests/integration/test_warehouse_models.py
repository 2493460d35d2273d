"""Crosswalks and models built on data the real pipelines loaded from the demo systems (CRM server, ERP
database, HR server, OA files), into DuckDB and PostgreSQL side by side.

The demo CRM carries the ERP's customer ids in a custom field and the ERP's company names, so code and
name links come from the data itself; the test plants only what the demo lacks: a namesake ERP customer
(an ambiguous name), and ERP reps known only by name (one HR name twice). OA approvers are HR people by
design, and the demo is one company: CRM owners, ERP reps and HR's sales department are the same people,
with the same work e-mail (demo/company.py).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from demo.erp_db import build_erp
from demo.oa_files import write_oa_drop
from etl.identity.crosswalk import build_crosswalks
from etl.layers import schema_of
from etl.models.build import build_models, discover
from tests.conftest import CRM_TOKEN, pg_sibling_database
from tests.helpers.pipeline import sync_system
from tests.helpers.warehouse import rows

ENTITIES = {
    "crm": ("owners", "companies", "contacts", "deals", "activities", "tickets"),
    "erp": ("fx_rates", "customers", "sales_reps", "categories", "products", "orders", "order_lines", "invoices"),
    "hr": ("employees", "departments", "jobs"),
    "oa": ("approvals", "purchase_requests", "purchase_request_lines"),
}
HR_USER, HR_PASSWORD = "hr", "hr-test-secret"
PLANTED_AT = "2024-06-01 00:00:00"


def _sync(system: str, url: str, run_id: str) -> None:
    sync_system(system, url, run_id, only=ENTITIES[system])


def _erp_keys(erp_url: str) -> dict[str, str]:
    """ERP customer id -> normalised company name, as the crosswalk's name rule sees it."""
    import pyarrow as pa

    from etl.transform.registry import company_key

    ids_names = rows(erp_url, "SELECT customer_id, company_name FROM customers ORDER BY customer_id")
    keys = company_key(pa.array([n for _, n in ids_names])).to_pylist()
    return {i: k for (i, _), k in zip(ids_names, keys, strict=True)}


def _picks(url: str, erp_url: str) -> dict:
    """CRM companies and ERP customers whose links the demo data makes (the demo CRM carries the ERP's
    customer ids in its `erp_customer_code` field for most ERP customers, and the ERP's names)."""
    companies = sorted(rows(url, "SELECT id, name, name_key, erp_customer_code FROM stg_crm__companies"),
                       key=lambda r: int(r[0]))
    erp = _erp_keys(erp_url)
    codes = [r[3] for r in companies if r[3]]
    crm_keys = [r[2] for r in companies]
    erp_keys = list(erp.values())
    coded = [r for r in companies if r[3] in erp and codes.count(r[3]) == 1 and crm_keys.count(r[2]) == 1]
    named = [(r, i) for r in companies for i, k in erp.items()
             if not r[3] and k == r[2] and crm_keys.count(r[2]) == 1 and erp_keys.count(k) == 1
             and i not in codes]
    spare = [i for i, k in erp.items() if i not in codes and k not in crm_keys]
    assert len(coded) >= 3 and len(named) >= 4 and spare, "the demo CRM no longer links to enough ERP customers"
    return {"code": coded[:3], "name": [(r[0], i) for r, i in named[:2]], "ambiguous": named[2],
            "pin": named[3][0][0], "pin_erp": spare[0], "unknown_codes": sum(c not in erp for c in codes)}


def _plant_erp(erp_url: str, picks: dict) -> None:
    """A namesake of one ERP customer (ambiguous by name) and sales reps who are HR employees."""
    (_, amb_name, _, _), _ = picks["ambiguous"]
    engine = sa.create_engine(erp_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO customers (customer_id, company_name, country, lead_source, "
                             "status, currency, updated_at) "
                             "VALUES ('AMBG1', :n, 'USA', 'referral', 'active', 'USD', :u)"),
                     {"n": amb_name.upper(), "u": PLANTED_AT})
        reps = ((90, "Lisa", "Ozer"), (91, "Lisa", "Ozer"), (92, "Tayler", "Fox"))
        conn.execute(sa.text("INSERT INTO employees (employee_id, first_name, last_name, title, email, "
                             "updated_at) VALUES (:i, :f, :l, 'Sales Representative', :e, :u)"),
                     [{"i": i, "f": f, "l": la, "e": f"{f}.{la}{i}@northwind.example".lower(),
                       "u": PLANTED_AT} for i, f, la in reps])
    engine.dispose()


def _overrides(folder: Path, picks: dict) -> Path:
    code3_id, code3 = picks["code"][2][0], picks["code"][2][3]
    path = folder / "overrides.yml"
    path.write_text(f"""\
customers:
  - match: {{crm: "{picks['pin']}", erp: {picks['pin_erp']}}}
    reason: test pin, a Northwind customer the rules cannot find
  - never: {{crm: "{code3_id}", erp: "{code3}"}}
    reason: test veto of a code link
  - match: {{crm: "99999", erp: ANATR}}
    reason: names a company that does not exist
people:
  - never: {{crm: "10", hr: 154}}
    reason: test veto of an e-mail link
  - match: {{crm: "1", hr: 145}}
    reason: test pin
""")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory, pg_url) -> dict:
    """Both warehouses loaded by the pipelines, then crosswalks and models built; {name: url} + picks."""
    from demo.process import start_demo_server

    folder = tmp_path_factory.mktemp("warehouse_models")
    warehouses = {"duckdb": f"duckdb:///{folder / 'warehouse.duckdb'}",
                  "postgres": pg_sibling_database(pg_url, "identity")}
    erp_url = f"sqlite:///{folder / 'erp.sqlite'}"
    build_erp(erp_url, seed=42)
    with (pytest.MonkeyPatch.context() as mp,
          start_demo_server("crm", seed=7, scale=0.1, owners=20, token=CRM_TOKEN) as crm,
          start_demo_server("hr", user=HR_USER, password=HR_PASSWORD) as hr):
        mp.setenv("AIRFLOW_CONN_CRM_API", f"http://:{CRM_TOKEN}@{crm.url.removeprefix('http://')}")
        mp.setenv("AIRFLOW_CONN_HR_API", f"http://{HR_USER}:{HR_PASSWORD}@{hr.url.removeprefix('http://')}")
        mp.setenv("AIRFLOW_CONN_ERP_DB", erp_url)
        picks = None
        for name, url in warehouses.items():
            _sync("crm", url, "models-1")
            if picks is None:
                picks = _picks(url, erp_url)
                _plant_erp(erp_url, picks)
            for system in ("erp", "hr"):
                _sync(system, url, "models-1")
            mp.setenv("ETL_DATA_DIR", str(folder / name))  # a fresh landing folder per warehouse
            write_oa_drop(folder / name / "oa" / "landing", seed=42, batch=1)
            _sync("oa", url, "models-1")
    overrides = _overrides(folder, picks)
    results = {}
    for name, url in warehouses.items():
        results[name] = (build_crosswalks(url, overrides), build_models(url))
    return {"urls": warehouses, "picks": picks, "overrides": overrides, "results": results}


def _xwalk(url: str) -> dict[str, tuple]:
    return {crm: (erp, rule, conf) for crm, erp, rule, conf in
            rows(url, "SELECT crm_company_id, erp_customer_id, rule, confidence FROM xwalk_customer")}


def _review(url: str) -> dict[tuple[str, str, str], tuple]:
    return {(e, s, r): (reason, cands) for e, s, r, reason, cands in
            rows(url, "SELECT entity, system, record_id, reason, candidates FROM xwalk_review")}


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_every_match_has_a_rule_and_a_confidence(built, warehouse):
    url = built["urls"][warehouse]
    for table in ("xwalk_customer", "xwalk_person"):
        bad = rows(url, f"SELECT * FROM {table} WHERE rule IS NULL OR confidence IS NULL "
                        "OR confidence <= 0 OR confidence > 1 OR matched_on IS NULL")
        assert bad == [], table
    rules = {r for (r,) in rows(url, "SELECT DISTINCT rule FROM xwalk_customer UNION SELECT DISTINCT rule "
                                     "FROM xwalk_person")}
    assert rules <= {"override", "erp_customer_code", "company_name", "domain", "email", "full_name"}


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_customers_link_by_code_and_name_overrides_win_and_doubts_go_to_review(built, warehouse):
    url, picks = built["urls"][warehouse], built["picks"]
    (c1, _, _, code1), (c2, _, _, code2), (c3, _, _, code3) = picks["code"]
    (n1, e1), (n2, e2) = picks["name"]
    xwalk = _xwalk(url)
    assert xwalk[c1] == (code1, "erp_customer_code", Decimal("1.00"))
    assert xwalk[c2] == (code2, "erp_customer_code", Decimal("1.00"))
    assert xwalk[n1] == (e1, "company_name", Decimal("0.90"))
    assert xwalk[n2] == (e2, "company_name", Decimal("0.90"))
    assert xwalk[picks["pin"]] == (picks["pin_erp"], "override", Decimal("1.00"))
    assert c3 not in xwalk  # its code link is vetoed
    assert len(set(e for e, _, _ in xwalk.values())) == len(xwalk)  # one to one
    review = _review(url)
    (amb, *_), amb_erp = picks["ambiguous"]
    assert review[("customer", "crm", amb)] == ("ambiguous", f"erp:AMBG1,erp:{amb_erp}")
    assert review[("customer", "erp", "AMBG1")] == ("ambiguous", f"crm:{amb}")
    assert review[("customer", "crm", c3)][0] == "unmatched"
    assert review[("customer", "erp", code3)][0] == "unmatched"
    assert review[("customer", "crm", "99999")] == ("stale_override", "erp:ANATR")
    listed = rows(url, "SELECT count(*) FROM xwalk_review WHERE entity = 'customer' AND system = 'crm' "
                       "AND detail LIKE 'erp_customer_code % is not an ERP customer id'")
    assert listed == [(picks["unknown_codes"],)]


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_people_link_across_hr_erp_crm_and_oa(built, warehouse):
    url = built["urls"][warehouse]
    person = {(s, r): (p, rule, conf) for p, s, r, rule, conf in
              rows(url, "SELECT person_id, system, record_id, rule, confidence FROM xwalk_person")}
    approvers = {e for (e,) in rows(url, "SELECT DISTINCT approver_email FROM stg_oa__approvals")}
    assert len(approvers) >= 10
    for email in approvers:  # OA knows people by their HR person_email
        pid, rule, conf = person[("oa", email)]
        assert pid.startswith("hr:") and (rule, conf) == ("email", Decimal("1.00"))
    # one company: CRM owner 7, ERP rep 7 and HR employee 151 are David Bernstein, by work e-mail
    assert person[("crm", "7")] == person[("erp", "7")] == ("hr:151", "email", Decimal("1.00"))
    team = rows(url, "SELECT count(*) FROM xwalk_person WHERE system IN ('crm', 'erp') AND rule = 'email' "
                     "AND person_id LIKE 'hr:%'")
    assert team == [(20 - 2 + 9,)]  # every CRM owner (but the pinned and the vetoed one) and every Northwind rep
    assert person[("erp", "92")] == ("hr:170", "full_name", Decimal("0.75"))  # Tayler Fox, known by name only
    assert person[("crm", "1")] == ("hr:145", "override", Decimal("1.00"))
    review = _review(url)
    assert review[("person", "erp", "90")] == ("ambiguous", "hr:168")  # two ERP reps named Lisa Ozer
    assert review[("person", "hr", "168")] == ("ambiguous", "erp:90,erp:91")
    assert review[("person", "crm", "10")][0] == "unmatched"  # its only candidate is vetoed


@pytest.mark.postgres
def test_both_warehouses_build_the_same_rows(built):
    duck, pg = built["urls"]["duckdb"], built["urls"]["postgres"]
    assert built["results"]["duckdb"] == built["results"]["postgres"]
    for table in ["xwalk_customer", "xwalk_person", "xwalk_review", *discover()]:
        assert _snapshot(duck, table) == _snapshot(pg, table), table


@pytest.mark.postgres
def test_models_match_their_documentation_and_add_up(built):
    url = built["urls"]["duckdb"]
    for name, model in discover().items():
        columns = [c for (c,) in rows(url, "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                                           "AND table_schema = :s ORDER BY ordinal_position",
                                      t=name, s=schema_of(name))]
        assert columns == list(model.columns), f"{name}: the header documents other columns than built"
    counts = built["results"]["duckdb"][1]
    assert counts["mart_customer_360"] == counts["dim_customer"] == rows(
        url, "SELECT count(DISTINCT customer_key) FROM mart_customer_360")[0][0]
    assert counts["fct_sales"] == rows(url, "SELECT count(*) FROM stg_erp__order_lines")[0][0]
    assert rows(url, "SELECT sum(revenue_usd) FROM mart_customer_360") == \
        rows(url, "SELECT CAST(sum(net_amount_usd) AS DECIMAL(18, 2)) FROM fct_sales")
    # a code-linked customer is one row with its CRM side and its ERP orders
    (crm, _, _, code), = built["picks"]["code"][:1]
    (crm_id, orders), = rows(url, "SELECT crm_company_id, orders FROM mart_customer_360 "
                                  "WHERE customer_key = :k", k=f"erp:{code}")
    assert crm_id == crm and orders == rows(url, "SELECT count(*) FROM stg_erp__orders "
                                                 "WHERE customer_id = :c", c=code)[0][0]
    # David Bernstein is one rep with CRM deals, ERP orders and his HR department
    (deals, orders, department), = rows(url, "SELECT deals, orders, hr_department FROM mart_rep_performance "
                                             "WHERE sales_rep_key = 'hr:151'")
    assert deals > 0 and orders > 0 and department == "Sales"


@pytest.mark.postgres
def test_the_demo_is_one_company_whose_marts_mean_something(built):
    """USD covers every deal, reps are found in HR, unknown is null (never 0.00), every mart has rows."""
    url = built["urls"]["duckdb"]
    (deals, priced, unpriced), = rows(url, "SELECT count(*), count(amount_usd), "
                                           "count(*) FILTER (WHERE amount IS NOT NULL AND amount_usd IS NULL) "
                                           "FROM fct_deals")
    assert deals > 100 and priced == deals and unpriced == 0
    reps = rows(url, "SELECT sales_rep_key, in_hr, hr_department FROM dim_sales_rep "
                     "WHERE sales_rep_key NOT LIKE 'erp:9_' AND sales_rep_key <> 'crm:10'")  # planted, vetoed
    assert reps and all(in_hr and dept == "Sales" for _, in_hr, dept in reps), reps
    assert rows(url, "SELECT count(*) FROM mart_rep_performance WHERE deals_won > 0 "
                     "AND (won_amount_usd IS NULL OR won_amount_usd <= 0)") == [(0,)]
    (owned, with_department), = rows(url, "SELECT count(account_owner_key), count(account_owner_department) "
                                          "FROM mart_customer_360")
    assert owned > 40 and with_department >= owned - 3  # the vetoed and the pinned-elsewhere owners aside
    (first, last), = rows(url, "SELECT min(order_date), max(order_date) FROM fct_sales")
    assert (first, last) == (dt.date(2023, 1, 5), dt.date(2024, 11, 6))  # the CRM's period
    assert rows(url, "SELECT count(*) FROM mart_customer_360 WHERE revenue_t12m_usd > 0")[0][0] > 30
    for mart in ("mart_customer_value", "mart_product_associations", "mart_service", "mart_product_sales",
                 "mart_receivables"):
        assert rows(url, f"SELECT count(*) FROM {mart}")[0][0] > 5, mart
    assert {s for (s,) in rows(url, "SELECT DISTINCT segment FROM mart_customer_value")} >= {
        "champions", "loyal", "at_risk", "hibernating"}


def _fresh_rows(warehouse: str, url: str, sql: str) -> list[tuple]:
    """A query on a brand-new driver connection, as a BI tool or the product owner's script opens one:
    no SQLAlchemy engine of the product, no search path of its own."""
    if warehouse == "duckdb":
        import duckdb

        with duckdb.connect(sa.engine.make_url(url).database) as con:
            return con.execute(sql).fetchall()
    import psycopg2

    con = psycopg2.connect(sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        with con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        con.close()


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_every_table_sits_in_its_layer_schema_and_bare_names_still_resolve(built, warehouse):
    """After syncs and a build: staging, core, marts and the control tables each in their own schema,
    nothing left in main/public, and a fresh connection still reads every table by its bare name."""
    from etl.layers import schema_of
    from etl.load.extras import unmapped_fields
    from etl.load.push_audit import ensure_push_tables
    from etl.load.warehouse import transaction

    url = built["urls"][warehouse]
    with transaction(url) as conn:  # the push control tables, as the first push would make them
        ensure_push_tables(conn)
    unmapped_fields(url)  # `etl fields`, which (re)creates the etl_unmapped_fields view
    default = "main" if warehouse == "duckdb" else "public"
    placed = _fresh_rows(warehouse, url, "SELECT table_schema, table_name FROM information_schema.tables "
                         "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() "
                         "AND table_schema NOT IN ('information_schema', 'pg_catalog')")
    where = {name: schema for schema, name in placed}
    assert len(where) == len(placed), "a table name in two schemas"
    expected = {"stg_crm__deals": "staging", "stg_erp__invoices": "staging", "stg_hr__employees": "staging",
                "stg_oa__approvals": "staging", "crm_deals": "core", "dim_customer": "core", "fct_deals": "core",
                "hist_deal_stage": "core", "xwalk_customer": "core", "mart_customer_value": "marts",
                "mart_product_associations": "marts", "etl_runs": "etl", "etl_quarantine": "etl",
                "etl_state": "etl", "etl_push_runs": "etl", "etl_push_rejects": "etl", "etl_push_state": "etl",
                "model_settings": "etl"}
    assert {t: where.get(t) for t in expected} == expected
    models = discover()
    assert {n: where.get(n) for n in models} == {n: "marts" if m.layer == "marts" else "core"
                                                 for n, m in models.items()}
    assert {n: s for n, s in where.items() if s != schema_of(n) or s == default} == {}
    for name, schema in sorted(where.items()):
        bare = _fresh_rows(warehouse, url, f'SELECT count(*) FROM "{name}"')
        assert bare == _fresh_rows(warehouse, url, f'SELECT count(*) FROM "{schema}"."{name}"'), name
    views = _fresh_rows(warehouse, url, "SELECT table_schema FROM information_schema.tables WHERE table_type = "
                        "'VIEW' AND table_name = 'etl_unmapped_fields' AND table_catalog = current_database()")
    assert sorted(views) == ([("etl",), ("main",)] if warehouse == "duckdb" else [("etl",)])
    assert _fresh_rows(warehouse, url, "SELECT count(*) FROM etl_unmapped_fields")[0][0] >= 0
    assert _fresh_rows(warehouse, url, "SELECT count(*) FROM mart_customer_value")[0][0] > 0
    runs = _fresh_rows(warehouse, url, "SELECT count(*) FROM etl_runs WHERE status = 'success'")
    assert runs[0][0] >= sum(len(v) for v in ENTITIES.values())


@pytest.mark.postgres
def test_a_rebuild_changes_nothing(built):
    url = built["urls"]["duckdb"]
    tables = ["xwalk_customer", "xwalk_person", "xwalk_review", "mart_customer_360", "mart_rep_performance"]
    before = {t: _snapshot(url, t) for t in tables}
    assert build_crosswalks(url, built["overrides"]) == built["results"]["duckdb"][0]
    assert build_models(url) == built["results"]["duckdb"][1]
    assert {t: _snapshot(url, t) for t in tables} == before


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_approval_times_are_what_the_docs_say(built, warehouse):
    """The OA writes office time (Europe/Berlin); fct_approvals documents decided_at as UTC and
    decided_at_local as office time. Checked against the OA's own export, converted here with zoneinfo."""
    from zoneinfo import ZoneInfo

    from demo.oa_files import build_drop

    columns = discover()["fct_approvals"].columns
    assert "UTC" in columns["decided_at"] and "Europe/Berlin" in columns["decided_at_local"]
    assert "UTC" in discover()["mart_approvals"].columns["last_decided_at"]
    (_, exported), = [v for k, v in build_drop(seed=42, batch=1).items() if k.startswith("approvals_")]
    berlin, seen = ZoneInfo("Europe/Berlin"), 0
    got = {(r, s): (utc, local, key) for r, s, utc, local, key in rows(
        built["urls"][warehouse], "SELECT request_id, step, decided_at, decided_at_local, decided_date_key "
                                  "FROM fct_approvals WHERE decided_at IS NOT NULL")}
    for row in exported:
        if not row["decided_at"]:
            continue
        fmt = "%d/%m/%Y %H:%M" if "/" in row["decided_at"] else "%Y-%m-%d %H:%M"
        office = dt.datetime.strptime(row["decided_at"], fmt)
        utc = office.replace(tzinfo=berlin).astimezone(dt.UTC).replace(tzinfo=None)
        assert got[(int(row["request_id"]), int(row["step"]))] == (utc, office, int(office.strftime("%Y%m%d")))
        seen += 1
    assert seen >= 20


def _value(v):
    if isinstance(v, float | Decimal):
        return round(float(v), 2)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def _snapshot(url: str, table: str) -> list[tuple]:
    data = [tuple(_value(v) for v in r) for r in rows(url, f"SELECT * FROM {table}")]
    return sorted(data, key=lambda r: tuple((v is None, str(v)) for v in r))

