"""Matching rules on small inline staging tables in a temp DuckDB: deterministic and normalised matches,
ambiguity sent to review, overrides pinning and forbidding, people across four systems, idempotence."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from etl.identity.crosswalk import build_crosswalks
from etl.identity.match import Record, link_records
from etl.identity.overrides import load_overrides
from etl.identity.rules import PERSON_RULES
from tests.helpers.warehouse import rows

COMPANIES = ["id", "name", "domain", "erp_customer_code"]
ERP_CUSTOMERS = ["customer_id", "company_name"]


def _table(columns: list[str], data: list[tuple]) -> pa.Table:
    cols = list(zip(*data, strict=True)) if data else [[] for _ in columns]
    return pa.table({c: pa.array(list(v), pa.int64() if c == "employee_id" else pa.string())
                     for c, v in zip(columns, cols, strict=True)})


def warehouse(tmp_path: Path, **tables: tuple[list[str], list[tuple]]) -> str:
    """A DuckDB file holding just the given staging tables (the build creates the rest empty)."""
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    for name, (columns, data) in tables.items():
        con.register("t", _table(columns, data))
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM t")
        con.unregister("t")
    con.close()
    return f"duckdb:///{path}"


def overrides(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "overrides.yml"
    path.write_text(textwrap.dedent(text))
    return path


def customers(url: str) -> dict[tuple[str, str], tuple[str, float]]:
    return {(crm, erp): (rule, float(conf)) for crm, erp, rule, conf in
            rows(url, "SELECT crm_company_id, erp_customer_id, rule, confidence FROM xwalk_customer")}


def review(url: str, entity: str = "customer") -> dict[tuple[str, str], tuple]:
    return {(s, r): (reason, rule, cands) for s, r, reason, rule, cands in
            rows(url, "SELECT system, record_id, reason, rule, candidates FROM xwalk_review "
                      "WHERE entity = :e", e=entity)}


def build(url: str, tmp_path: Path, text: str = "") -> dict:
    return build_crosswalks(url, overrides(tmp_path, text or "customers: []\n"))


def test_erp_code_links_deterministically_with_full_confidence(tmp_path):
    url = warehouse(tmp_path,
                    stg_crm__companies=(COMPANIES, [("1", "Anything Ltd", None, "ALFKI"),
                                                    ("2", "Other", None, " anatr ")]),
                    stg_erp__customers=(ERP_CUSTOMERS, [("ALFKI", "Alfreds Futterkiste"),
                                                        ("ANATR", "Ana Trujillo")]))
    build(url, tmp_path)
    assert customers(url) == {("1", "ALFKI"): ("erp_customer_code", 1.0),
                              ("2", "ANATR"): ("erp_customer_code", 1.0)}
    assert review(url) == {}


def test_names_match_without_case_punctuation_legal_suffix_or_accents(tmp_path):
    url = warehouse(tmp_path,
                    stg_crm__companies=(COMPANIES, [("1", "ACME, Inc.", None, None),
                                                    ("2", "Bólido Comidas preparadas S.A.", None, None),
                                                    ("3", "Acme Rockets", None, None)]),
                    stg_erp__customers=(ERP_CUSTOMERS, [("ACME1", "Acme Inc"),
                                                        ("BOLID", "BOLIDO COMIDAS PREPARADAS")]))
    build(url, tmp_path)
    assert customers(url) == {("1", "ACME1"): ("company_name", 0.9), ("2", "BOLID"): ("company_name", 0.9)}
    (matched_on,), = rows(url, "SELECT matched_on FROM xwalk_customer WHERE crm_company_id = '2'")
    assert matched_on == "company_name=bolido comidas preparadas"
    assert review(url) == {}  # CRM company 3 has no code: a prospect, not a data problem


def test_domain_links_when_the_erp_knows_a_website(tmp_path):
    url = warehouse(tmp_path,
                    stg_crm__companies=(COMPANIES, [("1", "Initech", "initech.com", None),
                                                    ("2", "Hooli", "gmail.com", None)]),
                    stg_erp__customers=(["customer_id", "company_name", "website"],
                                        [("INITE", "Initech Software Holdings", "https://www.initech.com/about"),
                                         ("HOOLI", "Hooli XYZ", "someone@gmail.com")]))
    build(url, tmp_path)
    assert customers(url) == {("1", "INITE"): ("domain", 0.8)}  # a free-mail domain links nobody


def test_an_ambiguous_name_goes_to_review_on_both_sides_and_is_not_forced(tmp_path):
    url = warehouse(tmp_path,
                    stg_crm__companies=(COMPANIES, [("1", "Globex Corp", None, None),
                                                    ("2", "GLOBEX CORPORATION", None, None),
                                                    ("3", "Umbrella", "umbrella.com", "UMBRE")]),
                    stg_erp__customers=(ERP_CUSTOMERS, [("GLOBX", "Globex"), ("UMBRE", "Umbrella")]))
    build(url, tmp_path)
    assert customers(url) == {("3", "UMBRE"): ("erp_customer_code", 1.0)}
    assert review(url) == {
        ("crm", "1"): ("ambiguous", "company_name", "erp:GLOBX"),
        ("crm", "2"): ("ambiguous", "company_name", "erp:GLOBX"),
        ("erp", "GLOBX"): ("ambiguous", "company_name", "crm:1,crm:2"),
    }


def test_two_companies_claiming_one_code_are_ambiguous_and_not_tried_by_name(tmp_path):
    url = warehouse(tmp_path,
                    stg_crm__companies=(COMPANIES, [("1", "Alfreds Futterkiste", None, "ALFKI"),
                                                    ("2", "Alfreds (old record)", None, "ALFKI")]),
                    stg_erp__customers=(ERP_CUSTOMERS, [("ALFKI", "Alfreds Futterkiste")]))
    build(url, tmp_path)
    assert customers(url) == {}  # the name would pick company 1; a doubtful code must not be papered over
    assert review(url)[("erp", "ALFKI")] == ("ambiguous", "erp_customer_code", "crm:1,crm:2")


def test_unmatched_records_are_listed_with_the_reason(tmp_path):
    url = warehouse(tmp_path,
                    stg_crm__companies=(COMPANIES, [("1", "Lost Code Ltd", None, "CUST-00001"),
                                                    ("2", "Prospect GmbH", None, None)]),
                    stg_erp__customers=(ERP_CUSTOMERS, [("ALFKI", "Alfreds Futterkiste")]))
    build(url, tmp_path)
    details = dict(((s, r), d) for s, r, d in rows(url, "SELECT system, record_id, detail FROM xwalk_review"))
    assert details == {("crm", "1"): "erp_customer_code CUST-00001 is not an ERP customer id",
                       ("erp", "ALFKI"): "no rule found a counterpart in the other systems"}


def test_an_override_pin_beats_the_rules_and_a_veto_removes_a_pair(tmp_path):
    url = warehouse(tmp_path,
                    stg_crm__companies=(COMPANIES, [("1", "Alfreds Futterkiste", None, "ANATR"),
                                                    ("2", "Around the Horn", None, None),
                                                    ("3", "Blauer See", None, "BLAUS")]),
                    stg_erp__customers=(ERP_CUSTOMERS, [("ALFKI", "Alfreds Futterkiste"),
                                                        ("ANATR", "Ana Trujillo"),
                                                        ("AROUT", "Around the Horn"),
                                                        ("BLAUS", "Blauer See")]))
    build(url, tmp_path, """\
        customers:
          - match: {crm: "1", erp: ALFKI}
            reason: the code field was typed into the wrong company
          - never: {crm: "2", erp: AROUT}
            reason: a namesake in another country
          - never: {crm: 3, erp: BLAUS}
            reason: code reused after a merger
          - match: {crm: "99", erp: BLAUS}
            reason: a company since deleted in the CRM
        """)
    assert customers(url) == {("1", "ALFKI"): ("override", 1.0)}
    (matched_on,), = rows(url, "SELECT matched_on FROM xwalk_customer")
    assert matched_on == "overrides.yml:2: the code field was typed into the wrong company"
    got = review(url)
    assert got[("crm", "3")][0] == "unmatched" and got[("erp", "BLAUS")][0] == "unmatched"
    assert got[("crm", "99")] == ("stale_override", "override", "erp:BLAUS")
    assert ("crm", "2") not in got  # no code: a company without counterpart is not a problem
    (detail,), = rows(url, "SELECT detail FROM xwalk_review WHERE system = 'crm' AND record_id = '3'")
    assert "BLAUS is an ERP customer id, but the pair was not linked" in detail


HR = ["employee_id", "first_name", "last_name", "person_email", "work_email"]
PEOPLE = dict(
    stg_hr__employees=(HR, [(100, "Steven", "King", "steven.king@hr.example", "sking@hr.example"),
                            (101, "Neena", "Yang", "neena.yang@hr.example", "nyang@hr.example"),
                            (102, "Lex", "Garcia", "lex.garcia@hr.example", "lgarcia@hr.example"),
                            (103, "Lex", "Garcia", "lex.garcia2@hr.example", "lgarcia2@hr.example")]),
    stg_erp__sales_reps=(["employee_id", "full_name", "email"],
                         [(7, "Steven King", "SKING@hr.example"),
                          (8, "Anne Dodsworth", "anne@northwind.example")]),
    stg_crm__owners=(["id", "full_name", "email"],
                     [("1", "Steven  King", "steve@crm.example"), ("2", "Lex García", "lex@crm.example"),
                      ("3", "Anne Dodsworth", "anne.d@crm.example")]),
    stg_oa__approvals=(["approver_email", "approver_name"],
                       [("steven.king@hr.example", "Steven King"), ("neena.yang@hr.example", "Neena Yang"),
                        ("nobody@hr.example", "No Body")]),
)


def people(url: str) -> dict[tuple[str, str], tuple[str, str, float]]:
    return {(s, r): (p, rule, float(c)) for p, s, r, rule, c in
            rows(url, "SELECT person_id, system, record_id, rule, confidence FROM xwalk_person")}


def test_one_person_across_four_systems_and_a_rep_found_outside_hr(tmp_path):
    url = warehouse(tmp_path, **PEOPLE)
    build(url, tmp_path)
    assert people(url) == {
        ("hr", "100"): ("hr:100", "email", 1.0),  # the first record shows its strongest link
        ("erp", "7"): ("hr:100", "email", 1.0),  # HR work e-mail, other case
        ("crm", "1"): ("hr:100", "full_name", 0.75),  # name only, double space ignored
        ("oa", "steven.king@hr.example"): ("hr:100", "email", 1.0),
        ("hr", "101"): ("hr:101", "email", 1.0),
        ("oa", "neena.yang@hr.example"): ("hr:101", "email", 1.0),
        ("erp", "8"): ("erp:8", "full_name", 0.75),  # not in HR: the ERP rep is the person
        ("crm", "3"): ("erp:8", "full_name", 0.75),
    }
    got = review(url, "person")
    assert got[("crm", "2")] == ("ambiguous", "full_name", "hr:102,hr:103")  # two HR namesakes
    assert got[("oa", "nobody@hr.example")][0] == "unmatched"
    assert ("hr", "102") in got and not any(s == "hr" and v[0] == "unmatched" for (s, _), v in got.items())


def test_person_overrides_pin_and_forbid(tmp_path):
    url = warehouse(tmp_path, **PEOPLE)
    build(url, tmp_path, """\
        people:
          - match: {crm: "2", hr: 103}
            reason: Lex from the Berlin office
          - never: {erp: 7, hr: 100}
            reason: the ERP's Steven King is his son
        """)
    got = people(url)
    assert got[("crm", "2")] == ("hr:103", "override", 1.0)
    assert ("erp", "7") not in got  # now a person of its own, so the CRM's Steven King has two candidates
    assert review(url, "person")[("crm", "1")] == ("ambiguous", "full_name", "erp:7,hr:100")


def test_rebuilding_gives_the_same_tables(tmp_path):
    url = warehouse(tmp_path, **PEOPLE, stg_crm__companies=(COMPANIES, [("1", "Globex", None, "GLOBX")]),
                    stg_erp__customers=(ERP_CUSTOMERS, [("GLOBX", "Globex")]))
    snapshot = "SELECT * FROM {} ORDER BY ALL"
    build(url, tmp_path)
    first = {t: rows(url, snapshot.format(t)) for t in ("xwalk_customer", "xwalk_person", "xwalk_review")}
    build(url, tmp_path)
    assert {t: rows(url, snapshot.format(t)) for t in first} == first


def test_the_result_does_not_depend_on_input_order():
    def person(system, rid, name, email):
        return Record(system, rid, name, {"email": (email,), "full_name": (name.lower(),)})

    hr = [person("hr", str(i), f"p {i % 7}", f"p{i}@hr") for i in range(40)]
    crm = [person("crm", str(i), f"p {i % 5}", f"p{i}@hr" if i % 3 else f"x{i}@crm") for i in range(30)]
    none = load_overrides(Path("/nonexistent"))["people"]
    expected = link_records([("hr", hr), ("crm", crm)], PERSON_RULES, none)
    for seed in range(3):
        random.Random(seed).shuffle(hr)
        random.Random(seed).shuffle(crm)
        again = link_records([("hr", hr), ("crm", crm)], PERSON_RULES, none)
        assert again.links == expected.links and again.review == expected.review


@pytest.mark.parametrize("broken", ["customers:\n  - match: {crm: '1'}\n    reason: x\n"])
def test_a_broken_override_file_fails_before_touching_the_warehouse(tmp_path, broken):
    url = warehouse(tmp_path, stg_crm__companies=(COMPANIES, []))
    from etl.config.loader import MappingError

    with pytest.raises(MappingError, match="overrides.yml:2"):
        build_crosswalks(url, overrides(tmp_path, broken))
    tables = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'xwalk_review'"
    assert rows(url, tables) == [(0,)]
