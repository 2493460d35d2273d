"""The model runner: every model file documented, dependencies found and ordered, bad files named; and
docs/warehouse.md generated from the current headers."""

from __future__ import annotations

import pytest

from etl.models.build import ModelError, build_order, discover
from etl.models.docs import DOC_PATH, render

CORE = {"dim_customer", "dim_sales_rep", "dim_date", "fct_sales", "fct_deals", "fct_approvals", "fct_tickets",
        "fct_invoices", "crm_accounts", "crm_contacts", "crm_deals", "crm_users", "crm_activities", "crm_tickets"}
MARTS = {"mart_customer_360", "mart_sales", "mart_pipeline", "mart_approvals", "mart_rep_performance",
         "mart_customer_value", "mart_product_associations", "mart_service", "mart_product_sales",
         "mart_receivables", "mart_pipeline_flow"}
HISTORY = {"hist_deal_stage", "hist_customer"}
CONTRACTS = {  # column contracts analysts' queries rely on (stable names, in this order, first)
    "mart_customer_value": ["customer_key", "recency_days", "frequency", "monetary", "r_score", "f_score",
                            "m_score", "segment"],
    "mart_product_associations": ["antecedent", "consequent", "support", "confidence", "lift", "baskets"],
}


def test_every_model_is_found_in_its_layer_with_its_documentation():
    models = discover()
    assert {n for n, m in models.items() if m.layer == "core"} == CORE
    assert {n for n, m in models.items() if m.layer == "marts"} == MARTS
    assert {n for n, m in models.items() if m.layer == "history"} == HISTORY
    assert all(models[n].unique_key and models[n].tracked for n in HISTORY)
    for m in models.values():
        assert m.description and m.grain and m.columns, m.name
        assert m.sql.upper().startswith(("SELECT", "WITH")), m.name


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_contract_columns_come_first(name):
    assert list(discover()[name].columns)[:len(CONTRACTS[name])] == CONTRACTS[name]


def test_dependencies_come_first():
    order = [m.name for m in build_order(discover())]
    position = {name: i for i, name in enumerate(order)}
    for m in discover().values():
        assert all(position[d] < position[m.name] for d in m.depends_on), m.name
    assert set(discover()["mart_customer_360"].depends_on) >= {"dim_customer", "fct_deals", "fct_sales"}
    assert "xwalk_customer" not in discover()["dim_customer"].depends_on  # tables, not models


def _models(tmp_path, files: dict[str, str]):
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


HEADER = "-- description: d\n-- grain: g\n-- columns:\n--   x: y\n"
BAD_MODEL_DIRS = [
    ({"core/a.sql": HEADER + "SELECT * FROM b", "core/b.sql": HEADER + "SELECT * FROM a"},
     "dependency cycle a -> b -> a"),
    ({"core/a.sql": "-- grain: g\n-- columns:\n--   x: y\nSELECT 1 AS x"},
     "a.sql:1: the header needs 'description'"),
    ({"core/a.sql": HEADER}, "a.sql: no SELECT after the header"),
    ({"core/a.sql": HEADER + "SELECT FROM WHERE ((("}, "a.sql: the SQL cannot be parsed to find the tables it reads"),
    ({"core/a.sql": "-- description: [\nSELECT 1"}, "a.sql: the comment header is not valid YAML"),
    ({"staging/a.sql": HEADER + "SELECT 1 AS x"}, "unknown layer 'staging'; expected one of core, history, marts"),
    ({"core/a.sql": HEADER + "SELECT * FROM m", "marts/m.sql": HEADER + "SELECT 1 AS x"},
     "a.sql: a core model cannot read a later layer (m)"),
    ({"core/a.sql": HEADER + "SELECT 1 AS x", "marts/a.sql": HEADER + "SELECT 1 AS x"},
     "model 'a' is also defined in"),
]


def test_dependencies_are_the_tables_a_model_reads_not_the_words_it_uses(tmp_path):
    files = {
        "core/dim_a.sql": HEADER + "SELECT 1 AS x",
        "core/dim_b.sql": HEADER + "SELECT 2 AS x",
        "core/dim_c.sql": HEADER + "SELECT 3 AS x",
        # dim_a only as a column alias and in a string, dim_b in a subquery, dim_c behind a CTE that
        # shadows nothing; `recent` is a CTE, not a model
        "marts/m.sql": HEADER + "WITH recent AS (SELECT x FROM dim_c) SELECT 'dim_a' AS dim_a, r.x FROM recent r "
                                "WHERE r.x IN (SELECT x FROM dim_b)",
    }
    models = discover(_models(tmp_path, files))
    assert models["m"].depends_on == ("dim_b", "dim_c")


def test_a_cycle_names_every_file_on_it(tmp_path):
    files = {"core/a.sql": HEADER + "SELECT * FROM b", "core/b.sql": HEADER + "SELECT * FROM c JOIN d USING (x)",
             "core/c.sql": HEADER + "SELECT * FROM a", "core/d.sql": HEADER + "SELECT 1 AS x"}
    with pytest.raises(ModelError) as err:
        build_order(discover(_models(tmp_path, files)))
    assert "dependency cycle a -> b -> c -> a" in str(err.value)
    assert all(str(tmp_path / "core" / f"{n}.sql") in str(err.value) for n in "abc")
    assert "d.sql" not in str(err.value)


@pytest.mark.parametrize(("files", "message"), BAD_MODEL_DIRS)
def test_bad_model_files_are_named_with_the_problem(tmp_path, files, message):
    with pytest.raises(ModelError) as err:
        build_order(discover(_models(tmp_path, files)))
    assert message in str(err.value)


def test_docs_are_generated_from_the_current_models():
    text = render()
    for name in CORE | MARTS | {"xwalk_customer", "xwalk_person", "xwalk_review"}:
        assert f"### `{name}`" in text
    assert "salted SHA-256 hashes" in text
    assert DOC_PATH.read_text(encoding="utf-8") == text, "stale docs/warehouse.md: python -m etl.models.docs"
