"""Deterministic demo CRM data, shaped like HubSpot CRM v3 objects, at any size.

A record is a pure function of (seed, entity, id, version): its fields come from a 64-bit hash of those,
so the demo server can serve millions of records without holding them, and every run with the same seed
serves the same data. Names, places, phones and e-mail domains come from the Chinook sample database
(data/chinook_seed.json, MIT). The only state is a small overlay of changed and added records (id ->
version and new updatedAt), which is what incremental-sync tests need. A small, deterministic share of
records carries the dirt real CRM exports have (bad e-mails and phones, unknown deal stages, mixed date
formats, near-duplicate companies, archived records), and `planted_dirt` lists exactly which.
"""

from __future__ import annotations

import functools
import json
import random
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import islice
from pathlib import Path

ENTITIES = ("owners", "companies", "contacts", "deals", "activities", "tickets")
BASE_SIZES = {"owners": 20, "companies": 500, "contacts": 2000, "deals": 1500, "activities": 4000,
              "tickets": 600}
BASE_START_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z: first base record
BASE_END_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z: every base record is older; mutations come after
_LAG_MS = 86_400_000  # base records were last modified one day after creation
_SPAN_S = (BASE_END_MS - BASE_START_MS - _LAG_MS) // 1000
_MASK, _GOLDEN = (1 << 64) - 1, 0x9E3779B97F4A7C15
Key = tuple[int, int]  # (updatedAt in epoch ms, id): the order records are served in
Dirt = list[tuple[str, str]]  # (kind, field)

# Dirt rates, out of 1024 (each roll is 10 bits of a record's hash).
BLANK, MALFORMED, UNKNOWN_STAGE, NEGATIVE_AMOUNT, MIXED_DATE, DUPLICATE, ARCHIVED = 16, 16, 20, 15, 25, 20, 10

_SEED = json.loads((Path(__file__).parent / "data" / "chinook_seed.json").read_text(encoding="utf-8"))
_ASCII = str.maketrans({"ø": "o", "ł": "l", "ß": "ss", "æ": "ae"})


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.lower().translate(_ASCII)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain)


@functools.cache
def _tails(mask: str) -> tuple[str, ...]:
    """All 10,000 fillings of a phone's last four digits, keeping its separators (mask: '##-##')."""
    def fill(digits: str) -> str:
        it = iter(digits)
        return "".join(next(it) if c == "#" else c for c in mask)
    return tuple(fill(f"{n:04d}") for n in range(10_000))


def _phone_format(template: str) -> tuple[str, tuple[str, ...]]:
    cut = [i for i, c in enumerate(template) if c.isdigit()][-4]
    return template[:cut], _tails("".join("#" if c.isdigit() else c for c in template[cut:]))


def _place(city: str, country: str, region: str, phone: str, national: str) -> tuple:
    """(city, country, region, language, phone formats): a contact's place fixes its phone's country."""
    templates = [phone, national]
    if region in ("US", "CA"):  # the dotted "650.253.0000" style seen in North American exports
        templates.append(national.replace("(", "").replace(") ", ".").replace("-", "."))
    return city, country, region, _LANGUAGE.get(region, "en"), tuple(_phone_format(t) for t in templates)


_LANGUAGE = {"BR": "pt-BR", "PT": "pt", "DE": "de", "AT": "de", "FR": "fr", "BE": "nl", "NL": "nl",
             "CZ": "cs", "NO": "no", "SE": "sv", "FI": "fi", "IT": "it", "ES": "es", "AR": "es", "PL": "pl"}
FIRST, LAST = tuple(_SEED["first_names"]), tuple(_SEED["last_names"])
# Every (first name, last name, e-mail local part) and every place, precomputed: one lookup per record.
PEOPLE = tuple((f, last, f"{_slug(f)}.{_slug(last)}") for f in FIRST for last in LAST)
PLACES = tuple(_place(*p) for p in _SEED["places"])
EMAIL_DOMAINS, COMPANIES = tuple(_SEED["email_domains"]), tuple(_SEED["companies"])
EMPLOYEES = _SEED["employees"]
_WORDS = (("Logistics", "LOGISTICS_AND_SUPPLY_CHAIN"), ("Foods", "FOOD_BEVERAGES"),
          ("Software", "COMPUTER_SOFTWARE"), ("Media", "MARKETING_AND_ADVERTISING"), ("Motors", "AUTOMOTIVE"),
          ("Textiles", "APPAREL_FASHION"),
          ("Energy", "RENEWABLES_ENVIRONMENT"), ("Pharma", "PHARMACEUTICALS"), ("Retail", "RETAIL"),
          ("Consulting", "MANAGEMENT_CONSULTING"), ("Records", "MUSIC"), ("Studios", "ENTERTAINMENT"))
_SUFFIXES = ("Inc.", "Ltd.", "GmbH", "S.A.", "LLC", "AG", "B.V.", "Group", "& Co.", "Holdings", "AB",
             "s.r.o.")
_TLD = {"US": "com", "GB": "co.uk", "BR": "com.br", "AU": "com.au"}
LIFECYCLE = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
             "evangelist", "other")
LEAD_SOURCES = ("ONLINE_PROMOTION", "REFERRAL", "TRADE_SHOW", "ORGANIC_SEARCH")
_JOB_TITLES = ("CEO", "CFO", "Head of Purchasing", "Buyer", "IT Manager", "Office Manager", "Sales Director",
               "Marketing Lead", "Operations Analyst", "Accountant")
_TIERS = ("bronze", "silver", "gold", "platinum")
_BAD_EMAILS = ("{local}@", "{local}.{domain}", "{spaced}@{domain}", "{local}@@{domain}")
_BAD_PHONES = ("12-ab", "000", "n/a", "+", "call me", "555-CALL-NOW")
STAGES = ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
          "contractsent", "closedwon", "closedlost")
_UNKNOWN_STAGES = ("negotiation_old", "Closed Won (legacy)", "qualified")
_FORECAST = {"closedwon": "closed", "closedlost": "omitted", "contractsent": "commit",
             "decisionmakerboughtin": "commit", "presentationscheduled": "best_case"}
_PIPELINES, CURRENCIES = ("default", "renewals", "partners"), ("USD", "EUR", "GBP", "CNY")
_PRODUCTS = ("Annual licence", "Support renewal", "Onboarding package", "Enterprise plan", "Data migration")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SUBJECTS = {"CALL": ("Intro call", "Follow-up call", "Renewal check-in"),
             "EMAIL": ("Proposal sent", "Re: pricing question", "Invoice copy"),
             "MEETING": ("Quarterly review", "Product demo", "Contract negotiation")}
_OUTCOMES = {"CALL": ("CONNECTED", "NO_ANSWER", "LEFT_VOICEMAIL", "BUSY"),
             "EMAIL": ("SENT", "OPENED", "REPLIED"),
             "MEETING": ("SCHEDULED", "COMPLETED", "NO_SHOW", "RESCHEDULED")}
_TICKET_SUBJECTS = ("Cannot log in", "Invoice amount wrong", "Export fails", "Add a user", "Slow dashboard")
_TICKET_STAGES, _PRIORITIES = ("new", "waiting", "in_progress", "closed"), ("LOW", "MEDIUM", "HIGH")
_TICKET_CATEGORIES = ("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY")
_OWNER_DOMAINS = ("chinookcorp.com", "chinook-music.example", "sales.chinookcorp.com")
_EPOCH = date(1970, 1, 1)
_DAYS: dict[int, str] = {}  # days since 1970 -> "2024-01-01T"
_TIMES: dict[int, str] = {}  # second of the day -> "13:05:09."
_MILLIS = tuple(f"{ms:03d}Z" for ms in range(1000))


def iso(ms: int) -> str:
    """Epoch milliseconds as HubSpot writes them ("2024-01-01T00:00:00.000Z"), from cached pieces:
    formatting each time costs more than building the rest of a record."""
    day, rest = divmod(ms, 86_400_000)
    second, milli = divmod(rest, 1000)
    try:
        return _DAYS[day] + _TIMES[second] + _MILLIS[milli]
    except KeyError:
        _DAYS[day] = f"{(_EPOCH + timedelta(days=day)).isoformat()}T"
        _TIMES[second] = f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}."
        return iso(ms)


def _mix(x: int) -> int:
    """splitmix64 finaliser: well-spread 64 bits, much cheaper than a random.Random per record."""
    x = (x + _GOLDEN) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _roll(h: int, shift: int) -> int:
    return (h >> shift) & 1023


def sizes_for(scale: float = 1.0, overrides: Mapping[str, int | None] | None = None) -> dict[str, int]:
    """Records per entity: BASE_SIZES times `scale` (at least one), then explicit per-entity counts."""
    sizes = {e: max(1, round(n * scale)) for e, n in BASE_SIZES.items()}
    for entity, count in (overrides or {}).items():
        if entity not in sizes:
            raise ValueError(f"unknown entity {entity!r}; expected one of {', '.join(ENTITIES)}")
        if count is not None and count < 1:
            raise ValueError(f"{entity} count must be at least 1 (foreign keys point at it), got {count}")
        sizes[entity] = count or sizes[entity]
    return sizes


def company_name(rid: int) -> str:
    """The original name of company `rid`: Chinook's companies first, then unique generated names."""
    if rid <= len(COMPANIES):
        return COMPANIES[rid - 1]
    k, stem = divmod(rid - len(COMPANIES) - 1, len(LAST))
    k, word = divmod(k, len(_WORDS))
    k, suffix = divmod(k, len(_SUFFIXES))
    return f"{LAST[stem]} {_WORDS[word][0]}{f' {k + 1}' if k else ''} {_SUFFIXES[suffix]}"


def _industry(rid: int, h0: int) -> str:
    """The industry matching a generated name's word ("... Logistics ..."); Chinook's own are hashed."""
    k = h0 if rid <= len(COMPANIES) else (rid - len(COMPANIES) - 1) // len(LAST)
    return _WORDS[k % len(_WORDS)][1]


def _name_variant(name: str, h: int) -> str:
    """The same name in another case or punctuation ("Acme, Inc." -> "ACME INC")."""
    bare = " ".join(re.sub(r"[^\w\s]", " ", name).split())
    variant = (bare.upper(), name.lower(), bare, name.upper())[h % 4]
    return variant if variant != name else bare.upper()


def _closedate(day: int, style: int) -> str:
    """A date as days since 1970 in one of the formats CRM exports mix: ISO, US, long, epoch ms."""
    d = _EPOCH + timedelta(days=day)
    if style == 0:
        return d.isoformat()
    if style == 1:
        return f"{d.month:02d}/{d.day:02d}/{d.year}"
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}" if style == 2 else str(day * 86_400_000)


@dataclass(slots=True)
class _Table:
    """One entity's size and overlay: all that is not a pure function of (seed, entity, id, version)."""

    salt: int
    n: int  # base records: ids 1..n, ordered by id
    count: int
    version: dict[int, int] = field(default_factory=dict)  # id -> version, changed records only
    moved: dict[int, int] = field(default_factory=dict)  # id -> updatedAt of changed and added records
    created: dict[int, int] = field(default_factory=dict)  # id -> createdAt of added records
    order: list[Key] = field(default_factory=list)  # keys of moved records, sorted

    def base_created(self, rid: int) -> int:
        """Whole seconds, increasing with id, so the base order is the id order."""
        return BASE_START_MS + rid * _SPAN_S // (self.n + 1) * 1000

    def key(self, rid: int) -> Key:
        moved = self.moved.get(rid)
        return (moved, rid) if moved is not None else self.base_key(rid)

    def base_key(self, rid: int) -> Key:
        return (self.base_created(rid) + _LAG_MS, rid)

    def keys_after(self, bound: Key) -> Iterator[Key]:
        """Keys strictly greater than `bound`, ascending: base ids not moved, then the moved ones."""
        moved, n = self.moved, self.n
        # Bisect on the base keys, which increase with id; moved ids are skipped below, served after.
        first = bisect_right(range(1, n + 1), bound, key=self.base_key) + 1
        for rid in range(first, n + 1):
            if rid not in moved:
                yield (BASE_START_MS + _LAG_MS + rid * _SPAN_S // (n + 1) * 1000, rid)
        order = self.order
        for i in range(bisect_right(order, bound), len(order)):
            yield order[i]


class CrmData:
    """The demo CRM's records: generated on demand, plus the overlay left by `mutate`. Not thread-safe."""

    def __init__(self, seed: int = 42, scale: float = 1.0, sizes: Mapping[str, int | None] | None = None):
        self.seed, self.base, self.mutations = seed, sizes_for(scale, sizes), 0
        self._clock = BASE_END_MS
        self._tables = {e: _Table(_mix(seed * 1_000_003 + i), self.base[e], self.base[e])
                        for i, e in enumerate(ENTITIES)}

    def counts(self) -> dict[str, int]:
        return {e: t.count for e, t in self._tables.items()}

    def key(self, entity: str, rid: int) -> Key:
        return self._tables[entity].key(rid)

    def page(self, entity: str, limit: int, bound: Key = (0, 0)) -> tuple[list[dict], Key | None]:
        """Up to `limit` records after `bound`, and the key to continue from (None on the last page)."""
        keys = list(islice(self._tables[entity].keys_after(bound), limit + 1))
        records = [self.build(entity, rid, updated)[0] for updated, rid in keys[:limit]]
        return records, keys[limit - 1] if len(keys) > limit else None

    def record(self, entity: str, rid: int) -> dict:
        if not 1 <= rid <= self._tables[entity].count:
            raise KeyError(f"no {entity} record with id {rid}")
        return self.build(entity, rid, self.key(entity, rid)[0])[0]

    def build(self, entity: str, rid: int, updated_ms: int) -> tuple[dict, Dirt]:
        """One record as served, and the dirt planted in it."""
        t = self._tables[entity]
        version = t.version.get(rid, 0)
        h0 = _mix(t.salt ^ rid)
        # Stable fields read h0, fields a new version may change read hv; swapping h0's halves is a
        # cheap, independent-enough hv for version 0, which is almost every record.
        hv = _mix(h0 ^ version * _GOLDEN & _MASK) if version else (h0 << 32 | h0 >> 32) & _MASK
        created = iso(t.created.get(rid) or BASE_START_MS + rid * _SPAN_S // (t.n + 1) * 1000)
        updated = iso(updated_ms)
        if entity == "owners":
            return _owner(rid, version, h0, created, updated), []
        props, dirt = _BUILDERS[entity](self, rid, h0, hv, created)
        archived = hv >> 54 < ARCHIVED  # bits 54-63 of hv are reserved for this
        if archived:
            dirt.append(("archived", "archived"))
        sid = str(rid)
        props["createdate"], props["hs_lastmodifieddate"], props["hs_object_id"] = created, updated, sid
        return {"id": sid, "properties": props, "createdAt": created, "updatedAt": updated,
                "archived": archived}, dirt

    def fk(self, entity: str, h: int) -> str:
        """A foreign key into the base ids of `entity`, which always exist."""
        return str(1 + h % self.base[entity])

    def company_root(self, rid: int) -> tuple[int, int]:
        """(id, hash) of the original company a near-duplicate copies, or of `rid` when it is original."""
        salt = self._tables["companies"].salt
        h0 = _mix(salt ^ rid)
        while rid > 1 and _roll(h0, 20) < DUPLICATE:
            rid = 1 + (h0 >> 32) % (rid - 1)
            h0 = _mix(salt ^ rid)
        return rid, h0

    def mutate(self, fraction: float = 0.01, new: int = 0, entities: Iterable[str] | None = None) -> dict:
        """Change `fraction` of each entity's records and add `new` ones, all later than anything served."""
        entities = list(entities or ENTITIES)
        if unknown := set(entities) - set(ENTITIES):
            raise ValueError(f"unknown entities {sorted(unknown)}; expected some of {', '.join(ENTITIES)}")
        if not 0 <= fraction <= 1 or new < 0:
            raise ValueError(f"fraction must be in [0, 1] and new >= 0, got fraction={fraction}, new={new}")
        self.mutations += 1
        self._clock += 3_600_000  # each mutation starts an hour after the last change
        result: dict[str, dict] = {"changed": {}, "added": {}, "changed_ids": {}, "added_ids": {}}
        for entity in entities:
            changed, added = self._mutate_entity(entity, fraction, new)
            result["changed"][entity], result["changed_ids"][entity] = len(changed), [str(i) for i in changed]
            result["added"][entity], result["added_ids"][entity] = len(added), [str(i) for i in added]
        return result

    def _mutate_entity(self, entity: str, fraction: float, new: int) -> tuple[list[int], list[int]]:
        t = self._tables[entity]
        rng = random.Random(f"{self.seed}:{entity}:{self.mutations}")
        changed = sorted(rng.sample(range(1, t.count + 1), round(fraction * t.count)))
        for rid in changed:
            t.version[rid] = t.version.get(rid, 0) + 1
            self._clock += 1
            t.moved[rid] = self._clock
        added = list(range(t.count + 1, t.count + new + 1))
        for rid in added:
            self._clock += 1
            t.moved[rid] = t.created[rid] = self._clock
        t.count += new
        t.order = sorted((ts, rid) for rid, ts in t.moved.items())
        return changed, added


def planted_dirt(data: CrmData) -> dict[str, list[dict[str, str]]]:
    """Every (record, kind) of dirt in the current state, found by building every record: for small data."""
    out: dict[str, list[dict[str, str]]] = {}
    for entity, count in data.counts().items():
        entries = out[entity] = []
        for rid in range(1, count + 1):
            for kind, column in data.build(entity, rid, data.key(entity, rid)[0])[1]:
                entry = {"id": str(rid), "kind": kind, "field": column}
                if kind == "duplicate_company":
                    entry["duplicate_of"] = str(data.company_root(rid)[0])
                entries.append(entry)
    return out


def _owner(rid: int, version: int, h0: int, created: str, updated: str) -> dict:
    """Owners are clean; the first ones are Chinook's employees, sales support agents first."""
    if rid <= len(EMPLOYEES):
        first, last = EMPLOYEES[rid - 1]["firstName"], EMPLOYEES[rid - 1]["lastName"]
        local = EMPLOYEES[rid - 1]["email"].split("@")[0]
    else:
        first, last, local = PEOPLE[h0 % len(PEOPLE)]
        local += str(rid)
    return {"id": str(rid), "email": f"{local}@{_OWNER_DOMAINS[version % 3]}", "firstName": first,
            "lastName": last, "userId": 9_000_000 + rid, "createdAt": created, "updatedAt": updated,
            "archived": False}


def _company(data: CrmData, rid: int, h0: int, hv: int, created: str) -> tuple[dict, Dirt]:
    root, root_h = data.company_root(rid)
    name, dirt = company_name(root), []
    if root != rid:
        name = _name_variant(name, h0)
        dirt.append(("duplicate_company", "name"))
    city, country, region, _, phones = PLACES[(root_h >> 8) % len(PLACES)]
    stem = _slug(name.split()[0]) if root <= len(COMPANIES) else _slug(" ".join(name.split()[:2]))
    prefix, tails = phones[0]
    return {"name": name, "domain": f"{stem}.{_TLD.get(region, region.lower())}",
            "industry": _industry(root, root_h),
            "city": city, "country": country, "phone": prefix + tails[(root_h >> 16) % 10_000],
            "annualrevenue": str(((hv >> 10) % 5000 + 1) * 10_000),
            "numberofemployees": str(5 + (hv >> 24) % 5000), "lifecyclestage": LIFECYCLE[(hv >> 40) % 8],
            "hubspot_owner_id": data.fk("owners", hv),
            "erp_customer_code": f"CUST-{rid:05d}" if _roll(h0, 30) < 640 else None,
            "customer_tier": _TIERS[(hv >> 48) % 4]}, dirt


def _contact(data: CrmData, rid: int, h0: int, hv: int, created: str) -> tuple[dict, Dirt]:
    first, last, local = PEOPLE[h0 % len(PEOPLE)]
    city, country, _, language, phones = PLACES[(h0 >> 13) % len(PLACES)]
    local, domain = f"{local}{rid}", EMAIL_DOMAINS[(h0 >> 19) % len(EMAIL_DOMAINS)]
    prefix, tails = phones[(hv >> 20) % len(phones)]
    email, phone = f"{local}@{domain}", prefix + tails[(hv >> 24) % 10_000]
    dirt: Dirt = []
    if hv & 1023 < BLANK + MALFORMED or hv >> 10 & 1023 < BLANK + MALFORMED:
        email, phone = _soil_contact(hv, local, domain, email, phone, dirt)
    return {"firstname": first, "lastname": last, "email": email, "phone": phone,
            "associatedcompanyid": data.fk("companies", h0 >> 32) if (h0 >> 28) % 10 else None,
            "jobtitle": _JOB_TITLES[(hv >> 38) % 10], "lifecyclestage": LIFECYCLE[(hv >> 42) % 8],
            "hs_lead_source": LEAD_SOURCES[h0 >> 60 & 3], "city": city, "country": country,
            "hubspot_owner_id": data.fk("owners", hv >> 45), "loyalty_score": str((hv >> 34) % 101),
            "preferred_language": language}, dirt


def _soil_contact(hv: int, local: str, domain: str, email: str, phone: str, dirt: Dirt) -> tuple[str, str]:
    """The rare dirty contact: blank or malformed e-mail (bits 0-9 of hv) and phone (bits 10-19)."""
    if (roll := hv & 1023) < BLANK + MALFORMED:
        dirt.append(("blank_email", "email") if roll < BLANK else ("malformed_email", "email"))
        bad = _BAD_EMAILS[roll % 4].format(local=local, domain=domain, spaced=local.replace(".", " ", 1))
        email = "" if roll < BLANK else bad
    if (roll := hv >> 10 & 1023) < BLANK + MALFORMED:
        dirt.append(("blank_phone", "phone") if roll < BLANK else ("malformed_phone", "phone"))
        phone = "" if roll < BLANK else _BAD_PHONES[roll % len(_BAD_PHONES)]
    return email, phone


def _deal(data: CrmData, rid: int, h0: int, hv: int, created: str) -> tuple[dict, Dirt]:
    company, dirt = data.fk("companies", h0 >> 16), []
    stage = STAGES[(hv >> 10) % len(STAGES)]
    if (roll := _roll(hv, 0)) < UNKNOWN_STAGE:
        stage = _UNKNOWN_STAGES[roll % len(_UNKNOWN_STAGES)]
        dirt.append(("unknown_stage", "dealstage"))
    amount = (hv >> 14) % 5_000_000 + 50_000  # cents
    sign = "-" if _roll(hv, 44) < NEGATIVE_AMOUNT else ""
    if sign:
        dirt.append(("negative_amount", "amount"))
    style = 1 + _roll(hv, 34) % 3 if _roll(hv, 34) < MIXED_DATE else 0
    if style:
        dirt.append(("mixed_date_format", "closedate"))
    return {"dealname": f"{company_name(data.company_root(int(company))[0])} – {_PRODUCTS[h0 % 5]}",
            "pipeline": _PIPELINES[(h0 >> 4) % 3], "dealstage": stage,
            "amount": f"{sign}{amount // 100}.{amount % 100:02d}",
            "deal_currency_code": CURRENCIES[h0 >> 8 & 3],
            "closedate": _closedate(19_358 + (hv >> 24) % 1100, style),  # 2023-01-01 + up to 3 years
            "hubspot_owner_id": data.fk("owners", hv >> 40), "associatedcompanyid": company,
            "forecast_category": _FORECAST.get(stage, "pipeline")}, dirt


def _activity(data: CrmData, rid: int, h0: int, hv: int, created: str) -> tuple[dict, Dirt]:
    kind = ("CALL", "EMAIL", "MEETING")[h0 % 3]
    return {"hs_activity_type": kind, "hs_timestamp": created,
            "hubspot_owner_id": data.fk("owners", hv >> 4),
            "associatedcontactid": data.fk("contacts", h0 >> 8),
            "associateddealid": data.fk("deals", h0 >> 32) if (h0 >> 2) % 10 < 6 else None,
            "hs_activity_subject": _SUBJECTS[kind][(h0 >> 60) % 3],
            "hs_call_duration": str(15_000 + (hv >> 20) % 1_800_000) if kind == "CALL" else None,
            "hs_activity_outcome": _OUTCOMES[kind][(hv >> 44) % len(_OUTCOMES[kind])]}, []


def _ticket(data: CrmData, rid: int, h0: int, hv: int, created: str) -> tuple[dict, Dirt]:
    subject = _TICKET_SUBJECTS[h0 % len(_TICKET_SUBJECTS)]
    return {"subject": subject, "content": f"Customer reports: {subject.lower()} (ref T-{rid}).",
            "hs_pipeline_stage": _TICKET_STAGES[hv % 4], "hs_ticket_priority": _PRIORITIES[(hv >> 4) % 3],
            "associatedcontactid": data.fk("contacts", h0 >> 8),
            "associatedcompanyid": data.fk("companies", h0 >> 32) if (h0 >> 4) % 10 < 7 else None,
            "hubspot_owner_id": data.fk("owners", hv >> 8),
            "ticket_category": _TICKET_CATEGORIES[(h0 >> 60) % 4]}, []


_BUILDERS = {"companies": _company, "contacts": _contact, "deals": _deal, "activities": _activity,
             "tickets": _ticket}
