"""Rebuild the crosswalk tables from the staging tables, in one transaction.

- `xwalk_customer`: CRM company <-> ERP customer, one row per linked pair;
- `xwalk_person`: one row per record (CRM owner, ERP sales rep, HR employee, OA approver) that belongs
  to a person found in at least two records, with the person's id;
- `xwalk_review`: what a data engineer should look at: records the rules found ambiguous (with their
  candidates), records expected to have a counterpart that have none, overrides naming no record.

Every run replaces the three tables from scratch (drop, create, insert), so the result depends only on
the staging tables and `mappings/identity/overrides.yml`, never on earlier runs.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.identity.match import Record, Result, link_records
from etl.identity.overrides import load_overrides
from etl.identity.rules import (
    CUSTOMER_RULES,
    PERSON_RULES,
    company_keys,
    domain_key,
    email_key,
    person_name_key,
)
from etl.layers import expose, qualified
from etl.load.merge import bulk_append
from etl.load.warehouse import dialect_of, existing_columns, quote, sql_type, transaction
from etl.models.staging import ensure_staging_tables

log = logging.getLogger(__name__)

# name -> (type, description); the DDL and docs/warehouse.md both read these.
TABLES: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "xwalk_customer": ("CRM company <-> ERP customer: one row per linked pair (1:1).", {
        "erp_customer_id": ("string", "ERP customer id (stg_erp__customers.customer_id)"),
        "crm_company_id": ("string", "CRM company id (stg_crm__companies.id)"),
        "erp_name": ("string", "ERP company name"),
        "crm_name": ("string", "CRM company name"),
        "rule": ("string", "rule that linked the pair: override, erp_customer_code, company_name, domain"),
        "confidence": ("decimal(3,2)", "the rule's confidence, 0-1"),
        "matched_on": ("string", "the shared key (e.g. company_name=alfreds futterkiste) or the override's "
                                 "file:line and reason"),
    }),
    "xwalk_person": ("One row per source record of a person found in two or more systems.", {
        "person_id": ("string", "the person: '<system>:<id>' of the first record (HR employee when in HR)"),
        "system": ("string", "hr (employee), erp (sales rep), crm (owner) or oa (approver)"),
        "record_id": ("string", "the record's id in that system (OA: the approver's e-mail)"),
        "full_name": ("string", "name as that system spells it"),
        "email": ("string", "e-mail as that system holds it (HR: person_email)"),
        "rule": ("string", "rule of the link that joined this record (for the first record: the "
                           "strongest link into it): override, email, full_name"),
        "confidence": ("decimal(3,2)", "the rule's confidence, 0-1"),
        "matched_on": ("string", "the shared key, or the override's file:line and reason"),
        "linked_to": ("string", "'<system>:<id>' of the record at the other end of that link"),
    }),
    "xwalk_review": ("Records a data engineer should decide on (pin or forbid in overrides.yml).", {
        "entity": ("string", "customer or person"),
        "system": ("string", "system of the record"),
        "record_id": ("string", "id of the record in that system"),
        "name": ("string", "its name, to recognise it"),
        "reason": ("string", "ambiguous (several candidates), unmatched (expected a counterpart, found none) "
                             "or stale_override (an override names a record that does not exist)"),
        "rule": ("string", "rule that found it ambiguous (override for override problems)"),
        "candidates": ("string", "comma-separated '<system>:<id>' of the candidates, sorted"),
        "detail": ("string", "what was found, in words"),
    }),
}


def _rows(conn: Connection, sql: str) -> list[tuple]:
    return [tuple(r) for r in conn.execute(sa.text(sql))]


def _keys(**groups: list) -> dict[str, tuple[str, ...]]:
    return {rule: tuple(sorted({v for v in values if v})) for rule, values in groups.items()}


def _erp_domain_column(conn: Connection) -> str | None:
    have = existing_columns(conn, "stg_erp__customers")
    return next((c for c in ("domain", "website", "email") if c in have), None)


def customer_systems(conn: Connection) -> list[tuple[str, list[Record]]]:
    domain_col = _erp_domain_column(conn)
    erp = _rows(conn, f"SELECT customer_id, company_name, {quote(domain_col) if domain_col else 'NULL'} "
                      "FROM stg_erp__customers")
    crm = _rows(conn, "SELECT id, name, domain, erp_customer_code FROM stg_crm__companies")
    erp_ids = {str(r[0]).strip().upper() for r in erp}
    erp_records = [
        Record("erp", str(cid), name, _keys(erp_customer_code=[str(cid).strip().upper()], company_name=[key],
                                            domain=[domain_key(dom)]))
        for (cid, name, dom), key in zip(erp, company_keys([r[1] for r in erp]), strict=True)]
    crm_records = []
    for (cid, name, dom, code), key in zip(crm, company_keys([r[1] for r in crm]), strict=True):
        code = (code or "").strip().upper() or None
        note = "" if not code else (
            f"erp_customer_code {code} is not an ERP customer id" if code not in erp_ids else
            f"erp_customer_code {code} is an ERP customer id, but the pair was not linked "
            "(forbidden by an override, or that customer belongs to another company)")
        crm_records.append(Record("crm", str(cid), name, _keys(erp_customer_code=[code], company_name=[key],
                                                              domain=[domain_key(dom)]),
                                  review_if_unmatched=code is not None, note=note))
    return [("erp", erp_records), ("crm", crm_records)]


def _person(system: str, rid, name: str | None, emails: list, review: bool = True) -> Record:
    keys = _keys(email=[email_key(e) for e in emails], full_name=[person_name_key(name)])
    return Record(system, str(rid), name, keys, review_if_unmatched=review)


def person_systems(conn: Connection) -> list[tuple[str, list[Record]]]:
    hr = _rows(conn, "SELECT employee_id, first_name, last_name, person_email, work_email "
                     "FROM stg_hr__employees")
    erp = _rows(conn, "SELECT employee_id, full_name, email FROM stg_erp__sales_reps")
    crm = _rows(conn, "SELECT id, full_name, email FROM stg_crm__owners")
    oa = _rows(conn, "SELECT approver_email, min(approver_name) FROM stg_oa__approvals "
                     "WHERE approver_email IS NOT NULL GROUP BY approver_email")
    return [
        ("hr", [_person("hr", i, " ".join(p for p in (f, la) if p), [pe, we], review=False)
                for i, f, la, pe, we in hr]),
        ("erp", [_person("erp", i, n, [e]) for i, n, e in erp]),
        ("crm", [_person("crm", i, n, [e]) for i, n, e in crm]),
        ("oa", [_person("oa", e, n, [e]) for e, n in oa]),
    ]


def _conf(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _label(ref: tuple[str, str]) -> str:
    return f"{ref[0]}:{ref[1]}"


def customer_rows(result: Result) -> list[dict]:
    out = []
    for entity in result.entities:
        if len(entity.members) < 2:
            continue
        erp, crm = entity.members[0], entity.members[1]
        link = result.links[crm.ref]
        out.append({"erp_customer_id": erp.id, "crm_company_id": crm.id, "erp_name": erp.name,
                    "crm_name": crm.name, "rule": link.rule, "confidence": _conf(link.confidence),
                    "matched_on": link.matched_on})
    return sorted(out, key=lambda r: (r["erp_customer_id"], r["crm_company_id"]))


def person_rows(result: Result, emails: dict[tuple[str, str], str | None]) -> list[dict]:
    out = []
    for entity in result.entities:
        if len(entity.members) < 2:
            continue
        person_id = _label(entity.anchor.ref)
        for member in entity.members:
            link = result.member_link(entity, member)
            assert link is not None  # a member of a 2+ record entity always has a link
            other = link.to if link.record == member.ref else link.record
            out.append({"person_id": person_id, "system": member.system, "record_id": member.id,
                        "full_name": member.name, "email": emails.get(member.ref), "rule": link.rule,
                        "confidence": _conf(link.confidence), "matched_on": link.matched_on,
                        "linked_to": _label(other)})
    return sorted(out, key=lambda r: (r["person_id"], r["system"], r["record_id"]))


def review_rows(entity: str, result: Result) -> list[dict]:
    return [{"entity": entity, "system": r.system, "record_id": r.record_id, "name": r.name,
             "reason": r.reason, "rule": r.rule, "detail": r.detail,
             "candidates": ",".join(_label(c) for c in r.candidates) or None}
            for r in result.review]


def _replace_table(conn: Connection, name: str, rows: list[dict]) -> int:
    dialect = dialect_of(str(conn.engine.url))
    _, columns = TABLES[name]
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {qualified(name)}"))
    defs = ", ".join(f"{quote(c)} {sql_type(dialect, t)}" for c, (t, _) in columns.items())
    conn.execute(sa.text(f"CREATE TABLE {qualified(name)} ({defs})"))
    expose(conn, name)
    if rows:
        types = {c: pa.decimal128(3, 2) if t.startswith("decimal") else pa.string()
                 for c, (t, _) in columns.items()}
        table = pa.table({c: pa.array([r[c] for r in rows], types[c]) for c in columns})
        bulk_append(conn, name, table)
    return len(rows)


def _emails(conn: Connection) -> dict[tuple[str, str], str | None]:
    sources = {"hr": "SELECT employee_id, person_email FROM stg_hr__employees",
               "erp": "SELECT employee_id, email FROM stg_erp__sales_reps",
               "crm": "SELECT id, email FROM stg_crm__owners",
               "oa": "SELECT DISTINCT approver_email, approver_email FROM stg_oa__approvals"}
    return {(system, str(i)): e for system, sql in sources.items() for i, e in _rows(conn, sql)}


def build_crosswalks(url: str | None = None, overrides_file: Path | None = None) -> dict[str, int]:
    """Rebuild xwalk_customer, xwalk_person and xwalk_review; returns row counts and match statistics."""
    started = time.monotonic()
    overrides = load_overrides(overrides_file)  # a broken file fails before the warehouse is touched
    with transaction(url) as conn:
        created = ensure_staging_tables(conn)
        if created:
            log.info("staging tables not loaded yet, created empty: %s", ", ".join(created))
        customers = link_records(customer_systems(conn), CUSTOMER_RULES, overrides["customers"])
        people = link_records(person_systems(conn), PERSON_RULES, overrides["people"])
        review = [*review_rows("customer", customers), *review_rows("person", people)]
        counts = {
            "xwalk_customer": _replace_table(conn, "xwalk_customer", customer_rows(customers)),
            "xwalk_person": _replace_table(conn, "xwalk_person", person_rows(people, _emails(conn))),
            "xwalk_review": _replace_table(conn, "xwalk_review", review),
        }
    counts["people"] = sum(1 for e in people.entities if len(e.members) > 1)
    for reason in ("ambiguous", "unmatched", "stale_override"):
        counts[f"review_{reason}"] = sum(1 for r in review if r["reason"] == reason)
    log.info("crosswalks rebuilt in %.2fs: %s", time.monotonic() - started,
             ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts
