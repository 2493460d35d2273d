"""How records are compared: the matching rules, their confidences, and the keys each rule compares.

Rules run in the order listed; the first rule that links a record wins, and a record a rule finds
ambiguous is sent to review rather than tried with a weaker rule. Confidence is the rule's, not a
per-pair score: a reviewer reads `rule` to know why two records were linked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

from etl.transform.normalise import fold_accents
from etl.transform.registry import FUNCTIONS


@dataclass(frozen=True)
class Rule:
    name: str
    confidence: float
    description: str


OVERRIDE = Rule("override", 1.0, "pinned in mappings/identity/overrides.yml by a data engineer")

CUSTOMER_RULES = (
    Rule("erp_customer_code", 1.0,
         "the CRM company's custom field erp_customer_code equals the ERP customer id"),
    Rule("company_name", 0.9, "same company name without case, accents, punctuation and legal suffix "
                              "(company_key: 'ACME, Inc.' = 'Acme Inc')"),
    Rule("domain", 0.8, "same web domain (CRM company domain = the ERP customer's website/e-mail domain, "
                        "when the ERP table has such a column)"),
)

PERSON_RULES = (
    Rule("email", 1.0, "one of the record's e-mail addresses equals one of the person's (case-insensitive)"),
    Rule("full_name", 0.75,
         "same full name without case, accents and punctuation ('José  Núñez' = 'jose nunez')"),
)

ALL_RULES = (OVERRIDE, *CUSTOMER_RULES, *PERSON_RULES)

# Mailbox providers: a shared e-mail domain says nothing about which company someone works for.
FREE_MAIL = frozenset({"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com",
                       "live.com", "aol.com", "icloud.com", "gmx.de", "gmx.net", "web.de", "mail.ru",
                       "qq.com", "163.com"})


def company_keys(names: list[str | None]) -> list[str | None]:
    """The registered `company_key`, the very function that fills stg_crm__companies.name_key (it folds
    accents with `fold_accents` itself), so a key computed here equals the stored one."""
    if not names:
        return []
    return FUNCTIONS["company_key"](pa.array(names, pa.string())).to_pylist()


def person_name_key(name: str | None) -> str | None:
    """'  Hannah  Gutiérrez ' -> 'hannah gutierrez'; None when nothing is left."""
    if not name:
        return None
    key = re.sub(r"[^a-z0-9]+", " ", (fold_accents(name) or "").lower()).strip()
    return key or None


def email_key(email: str | None) -> str | None:
    if not email:
        return None
    key = email.strip().lower()
    return key if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", key) else None


def domain_key(value: str | None) -> str | None:
    """A bare web domain from a domain, a URL or an e-mail address; None for free-mail domains."""
    if not value:
        return None
    s = value.strip().lower()
    s = s.rsplit("@", 1)[-1]
    s = re.sub(r"^[a-z][a-z0-9+.-]*://", "", s)
    s = re.sub(r"^www\.", "", s)
    s = re.split(r"[/?#:]", s, maxsplit=1)[0].strip(".")
    if "." not in s or s in FREE_MAIL:
        return None
    return s
