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
from datetime import date, timedelta
from pathlib import Path

ENTITIES = ("owners", "companies", "contacts", "deals", "activities", "tickets")
BASE_SIZES = {"owners": 20, "companies": 500, "contacts": 2000, "deals": 1500, "activities": 4000,
              "tickets": 600}
BASE_START_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z: first base record
BASE_END_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z: every base record is older; mutations come after
_LAG_MS = 86_400_000  # base records were last modified one day after creation
_SPAN_MS = BASE_END_MS - BASE_START_MS - _LAG_MS
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
    templates = [phone, national]
    if region in ("US", "CA"):  # the dotted "650.253.0000" style seen in North American exports
        templates.append(national.replace("(", "").replace(") ", ".").replace("-", "."))
    return city, country, region, tuple(_phone_format(t) for t in templates)


FIRST, LAST = tuple(_SEED["first_names"]), tuple(_SEED["last_names"])
_FIRST_SLUG, _LAST_SLUG = tuple(map(_slug, FIRST)), tuple(map(_slug, LAST))
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
_LANGUAGE = {"BR": "pt-BR", "PT": "pt", "DE": "de", "AT": "de", "FR": "fr", "BE": "nl", "NL": "nl",
             "CZ": "cs", "NO": "no", "SE": "sv", "FI": "fi", "IT": "it", "ES": "es", "AR": "es", "PL": "pl"}
LIFECYCLE = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
             "evangelist", "other")
LEAD_SOURCES = ("ONLINE_PROMOTION", "REFERRAL", "TRADE_SHOW", "ORGANIC_SEARCH")
_JOB_TITLES = ("CEO", "CFO", "Head of Purchasing", "Buyer", "IT Manager", "Office Manager", "Sales Director",
               "Marketing Lead", "Operations Analyst", "Accountant")
_TIERS = ("bronze", "silver", "gold", "platinum")
_BAD_EMAILS = ("{local}@", "{local}.{domain}", "{first} {last}@{domain}", "{local}@@{domain}")
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
_DAYS: dict[int, str] = {}


def iso(ms: int) -> str:
    """Epoch milliseconds as HubSpot writes them ("2024-01-01T00:00:00.000Z"); ~4x faster than strftime."""
    day, rest = divmod(ms, 86_400_000)
    if (text := _DAYS.get(day)) is None:
        text = _DAYS[day] = (_EPOCH + timedelta(days=day)).isoformat()
    seconds, milli = divmod(rest, 1000)
    hours, seconds = divmod(seconds, 3600)
    return f"{text}T{hours:02d}:{seconds // 60:02d}:{seconds % 60:02d}.{milli:03d}Z"


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


class CrmData:
    """The demo CRM's records: generated on demand, plus the overlay left by `mutate`. Not thread-safe."""

    def __init__(self, seed: int = 42, scale: float = 1.0, sizes: Mapping[str, int | None] | None = None):
        self.seed, self.base, self.mutations = seed, sizes_for(scale, sizes), 0
        self._salt = {e: _mix(seed * 1_000_003 + i) for i, e in enumerate(ENTITIES)}
        self._clock, self._count = BASE_END_MS, dict(self.base)
        self._version: dict[str, dict[int, int]] = {e: {} for e in ENTITIES}
        self._moved: dict[str, dict[int, int]] = {e: {} for e in ENTITIES}  # id -> updatedAt, overlay only
        self._created: dict[str, dict[int, int]] = {e: {} for e in ENTITIES}  # id -> createdAt, added only
        self._order: dict[str, list[Key]] = {e: [] for e in ENTITIES}  # overlay keys, sorted

    def counts(self) -> dict[str, int]:
        return dict(self._count)

    def _base_created(self, entity: str, rid: int) -> int:
        return BASE_START_MS + rid * _SPAN_MS // (self.base[entity] + 1)

    def key(self, entity: str, rid: int) -> Key:
        moved = self._moved[entity].get(rid)
        return (moved if moved is not None else self._base_created(entity, rid) + _LAG_MS, rid)

    def keys_after(self, entity: str, bound: Key = (0, 0)) -> Iterator[Key]:
        """Keys strictly greater than `bound`, ascending: base ids not in the overlay, then the overlay."""
        moved, n = self._moved[entity], self.base[entity]
        first = bisect_right(range(1, n + 1), bound, key=lambda rid: self.key(entity, rid)) + 1
        start = BASE_START_MS + _LAG_MS
        for rid in range(first, n + 1):
            if rid not in moved:
                yield (start + rid * _SPAN_MS // (n + 1), rid)
        order = self._order[entity]
        for i in range(bisect_right(order, bound), len(order)):
            yield order[i]

    def page(self, entity: str, limit: int, bound: Key = (0, 0)) -> tuple[list[dict], Key | None]:
        """Up to `limit` records after `bound`, and the key to continue from (None on the last page)."""
        records: list[dict] = []
        last = None
        for key in self.keys_after(entity, bound):
            if len(records) == limit:
                return records, last
            records.append(self.build(entity, key[1], key[0])[0])
            last = key
        return records, None

    def record(self, entity: str, rid: int) -> dict:
        if not 1 <= rid <= self._count[entity]:
            raise KeyError(f"no {entity} record with id {rid}")
        return self.build(entity, rid, self.key(entity, rid)[0])[0]

    def build(self, entity: str, rid: int, updated_ms: int) -> tuple[dict, Dirt]:
        """One record as served, and the dirt planted in it."""
        version = self._version[entity].get(rid, 0)
        h0 = _mix(self._salt[entity] ^ rid)
        hv = _mix(h0 ^ (version * _GOLDEN & _MASK))
        created = iso(self._created[entity].get(rid) or self._base_created(entity, rid))
        updated = iso(updated_ms)
        if entity == "owners":
            return _owner(rid, version, h0, created, updated), []
        props, dirt = _BUILDERS[entity](self, rid, h0, hv, created)
        archived = _roll(hv, 54) < ARCHIVED  # bits 54-63 of hv are reserved for this
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
        h0 = _mix(self._salt["companies"] ^ rid)
        while rid > 1 and _roll(h0, 20) < DUPLICATE:
            rid = 1 + (h0 >> 32) % (rid - 1)
            h0 = _mix(self._salt["companies"] ^ rid)
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
        count = self._count[entity]
        rng = random.Random(f"{self.seed}:{entity}:{self.mutations}")
        changed = sorted(rng.sample(range(1, count + 1), round(fraction * count)))
        versions, moved = self._version[entity], self._moved[entity]
        for rid in changed:
            versions[rid] = versions.get(rid, 0) + 1
            self._clock += 1
            moved[rid] = self._clock
        added = list(range(count + 1, count + new + 1))
        for rid in added:
            self._clock += 1
            moved[rid] = self._created[entity][rid] = self._clock
        self._count[entity] += new
        self._order[entity] = sorted((ts, rid) for rid, ts in moved.items())
        return changed, added


def planted_dirt(data: CrmData) -> dict[str, list[dict[str, str]]]:
    """Every (record, kind) of dirt in the current state, found by building every record: for small data."""
    out: dict[str, list[dict[str, str]]] = {}
    for entity in ENTITIES:
        entries = out[entity] = []
        for rid in range(1, data.counts()[entity] + 1):
            for kind, field in data.build(entity, rid, data.key(entity, rid)[0])[1]:
                entry = {"id": str(rid), "kind": kind, "field": field}
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
        i, j = h0 % len(FIRST), (h0 >> 8) % len(LAST)
        first, last, local = FIRST[i], LAST[j], f"{_FIRST_SLUG[i]}.{_LAST_SLUG[j]}{rid}"
    return {"id": str(rid), "email": f"{local}@{_OWNER_DOMAINS[version % 3]}", "firstName": first,
            "lastName": last, "userId": 9_000_000 + rid, "createdAt": created, "updatedAt": updated,
            "archived": False}


def _company(data: CrmData, rid: int, h0: int, hv: int, created: str) -> tuple[dict, Dirt]:
    root, root_h = data.company_root(rid)
    name, dirt = company_name(root), []
    if root != rid:
        name = _name_variant(name, h0)
        dirt.append(("duplicate_company", "name"))
    city, country, region, phones = PLACES[(root_h >> 8) % len(PLACES)]
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
    i, j = h0 % len(FIRST), (h0 >> 8) % len(LAST)
    city, country, region, phones = PLACES[(h0 >> 16) % len(PLACES)]
    dirt: Dirt = []
    local, domain = f"{_FIRST_SLUG[i]}.{_LAST_SLUG[j]}{rid}", EMAIL_DOMAINS[(h0 >> 24) % len(EMAIL_DOMAINS)]
    email, phone = f"{local}@{domain}", ""
    if (roll := _roll(hv, 0)) < BLANK + MALFORMED:
        dirt.append(("blank_email", "email") if roll < BLANK else ("malformed_email", "email"))
        email = "" if roll < BLANK else _BAD_EMAILS[roll % 4].format(
            local=local, domain=domain, first=_FIRST_SLUG[i], last=_LAST_SLUG[j])
    if (roll := _roll(hv, 10)) < BLANK + MALFORMED:
        dirt.append(("blank_phone", "phone") if roll < BLANK else ("malformed_phone", "phone"))
        phone = "" if roll < BLANK else _BAD_PHONES[roll % len(_BAD_PHONES)]
    else:
        prefix, tails = phones[(hv >> 20) % len(phones)]
        phone = prefix + tails[(hv >> 24) % 10_000]
    return {"firstname": FIRST[i], "lastname": LAST[j], "email": email, "phone": phone,
            "associatedcompanyid": data.fk("companies", h0 >> 32) if (h0 >> 28) % 10 else None,
            "jobtitle": _JOB_TITLES[(hv >> 38) % 10], "lifecyclestage": LIFECYCLE[(hv >> 42) % 8],
            "hs_lead_source": LEAD_SOURCES[(h0 >> 60) % 4], "city": city, "country": country,
            "hubspot_owner_id": data.fk("owners", hv >> 45), "preferred_language": _LANGUAGE.get(region, "en"),
            "loyalty_score": str((hv >> 34) % 101)}, dirt


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
            "pipeline": _PIPELINES[(h0 >> 4) % 3], "dealstage": stage, "deal_currency_code": CURRENCIES[(h0 >> 8) % 4],
            "amount": f"{sign}{amount // 100}.{amount % 100:02d}",
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
