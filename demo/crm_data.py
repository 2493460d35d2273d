"""Deterministic demo CRM data, shaped like HubSpot CRM v3 objects, at any size.

A record is a pure function of (seed, entity, id, version): its fields come from a 64-bit hash of those,
so the demo server can serve millions of records without holding them, and every run with the same seed
serves the same data. Names, places, phones and e-mail domains come from the Chinook sample database
(data/chinook_seed.json, MIT). The only state is a small overlay of changed and added records (id ->
version and new updatedAt), which is what incremental-sync tests need. A small, deterministic share of
records carries the dirt real CRM exports have (bad e-mails and phones, unknown deal stages, mixed date
formats, near-duplicate companies, archived records), and `planted_dirt` lists exactly which.

Records are generated a page at a time as numpy columns, then zipped into dicts: per-record Python code
was the bottleneck when a benchmark pulls a million contacts, and this halves it.
"""

from __future__ import annotations

import functools
import json
import random
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import islice
from pathlib import Path

import numpy as np

from demo.company import CRM_CLOSE_DAYS, WORK_EMAIL_DOMAIN, sales_team

ENTITIES = ("owners", "companies", "contacts", "deals", "activities", "tickets")
BASE_SIZES = {"owners": 20, "companies": 500, "contacts": 2000, "deals": 1500, "activities": 4000,
              "tickets": 600}
BASE_START_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z: first base record
BASE_END_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z: every base record is older; mutations come after
_LAG_MS = 86_400_000  # base records were last modified one day after creation
_SPAN_S = (BASE_END_MS - BASE_START_MS - _LAG_MS) // 1000
_GOLDEN = 0x9E3779B97F4A7C15
Key = tuple[int, int]  # (updatedAt in epoch ms, id): the order records are served in
Columns = dict[str, list]

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
    template = mask.replace("#", "{}")
    return tuple(template.format(*f"{n:04d}") for n in range(10_000))


def _phone_format(template: str) -> tuple[str, tuple[str, ...]]:
    cut = [i for i, c in enumerate(template) if c.isdigit()][-4]
    return template[:cut], _tails("".join("#" if c.isdigit() else c for c in template[cut:]))


def _place(city: str, country: str, region: str, phone: str, national: str) -> tuple:
    """(city, country, region, language, six phone formats): a contact's place fixes its phone's country.
    Six is a multiple of the two or three formats a country has, so one roll picks any of them evenly."""
    templates = [phone, national]
    if region in ("US", "CA"):  # the dotted "650.253.0000" style seen in North American exports
        templates.append(national.replace("(", "").replace(") ", ".").replace("-", "."))
    formats = [_phone_format(t) for t in templates]
    six = tuple(formats[k % len(formats)] for k in range(6))
    return city, country, region, _LANGUAGE.get(region, "en"), six


_LANGUAGE = {"BR": "pt-BR", "PT": "pt", "DE": "de", "AT": "de", "FR": "fr", "BE": "nl", "NL": "nl",
             "CZ": "cs", "NO": "no", "SE": "sv", "FI": "fi", "IT": "it", "ES": "es", "AR": "es", "PL": "pl"}
FIRST, LAST = tuple(_SEED["first_names"]), tuple(_SEED["last_names"])
PEOPLE = tuple((f, last, f"{_slug(f)}.{_slug(last)}") for f in FIRST for last in LAST)  # + e-mail local part
PLACES = tuple(_place(*p) for p in _SEED["places"])
EMAIL_DOMAINS = tuple(_SEED["email_domains"])
# The demo ERP's customers (Northwind, Ms-PL) come first, so CRM and ERP share customers to match;
# Chinook's companies follow, then made-up ones.
_NORTHWIND = json.loads((Path(__file__).parent / "data" / "northwind" / "customers.json").read_text("utf-8"))
ERP_CUSTOMER_IDS = tuple(c[0] for c in _NORTHWIND["customers"])
COMPANIES = tuple(c[1] for c in _NORTHWIND["customers"]) + tuple(_SEED["companies"])
EMPLOYEES = _SEED["employees"]
_WORDS = (("Logistics", "LOGISTICS_AND_SUPPLY_CHAIN"), ("Foods", "FOOD_BEVERAGES"),
          ("Software", "COMPUTER_SOFTWARE"), ("Media", "MARKETING_AND_ADVERTISING"), ("Motors", "AUTOMOTIVE"),
          ("Textiles", "APPAREL_FASHION"), ("Energy", "RENEWABLES_ENVIRONMENT"),
          ("Pharma", "PHARMACEUTICALS"), ("Retail", "RETAIL"), ("Consulting", "MANAGEMENT_CONSULTING"),
          ("Records", "MUSIC"), ("Studios", "ENTERTAINMENT"))
_SUFFIXES = ("Inc.", "Ltd.", "GmbH", "S.A.", "LLC", "AG", "B.V.", "Group", "& Co.", "Holdings", "AB",
             "s.r.o.")
_TLD = {"US": "com", "GB": "co.uk", "BR": "com.br", "AU": "com.au"}
LIFECYCLE = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
             "evangelist", "other")
LEAD_SOURCES = ("ONLINE_PROMOTION", "REFERRAL", "TRADE_SHOW", "ORGANIC_SEARCH")
_JOB_TITLES = ("CEO", "CFO", "Head of Purchasing", "Buyer", "IT Manager", "Office Manager", "Sales Director",
               "Marketing Lead", "Operations Analyst", "Accountant")
_TIERS = ("bronze", "silver", "gold", "platinum")
_SCORES = tuple(map(str, range(101)))
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
_ACTIVITY_TYPES = ("CALL", "EMAIL", "MEETING")
_SUBJECTS = {"CALL": ("Intro call", "Follow-up call", "Renewal check-in"),
             "EMAIL": ("Proposal sent", "Re: pricing question", "Invoice copy"),
             "MEETING": ("Quarterly review", "Product demo", "Contract negotiation")}
_OUTCOMES = {"CALL": ("CONNECTED", "NO_ANSWER", "LEFT_VOICEMAIL", "BUSY"),
             "EMAIL": ("SENT", "OPENED", "REPLIED"),
             "MEETING": ("SCHEDULED", "COMPLETED", "NO_SHOW", "RESCHEDULED")}
_TICKET_SUBJECTS = ("Cannot log in", "Invoice amount wrong", "Export fails", "Add a user", "Slow dashboard")
_TICKET_STAGES, _PRIORITIES = ("new", "waiting", "in_progress", "closed"), ("LOW", "MEDIUM", "HIGH")
_TICKET_CATEGORIES = ("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY")
# Owners' work e-mail is HR's (demo/company.py); each new version of an owner moves it to another domain.
_OWNER_DOMAINS = (WORK_EMAIL_DOMAIN, "chinook-music.example", "sales.chinookcorp.com")


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser over uint64 arrays (wrapping arithmetic): cheap, well-spread 64 bits."""
    x = x + np.uint64(_GOLDEN)
    x = (x ^ (x >> 30)) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> 27)) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> 31)


def _roll(h: np.ndarray, shift: int) -> np.ndarray:
    return (h >> shift) & 1023


_ARRAYS: dict[int, np.ndarray] = {}  # id of a pool -> the pool as a 1-D object array


def _pick(pool: tuple, h: np.ndarray) -> list:
    """pool[h % len(pool)] for a whole column. Pools are module constants, so their arrays are cached by
    identity: hashing a pool as a cache key would cost more than the pick (PLACES holds 290k strings)."""
    if (array := _ARRAYS.get(id(pool))) is None:
        array = _ARRAYS[id(pool)] = np.empty(len(pool), dtype=object)
        for i, item in enumerate(pool):  # item by item: numpy would turn a tuple of tuples into 2-D
            array[i] = item
    return array[(h % len(pool)).astype(np.intp)].tolist()


def _strs(values: np.ndarray) -> list[str]:
    return list(map(str, values.tolist()))


def _some(values: list, keep: np.ndarray) -> list:
    return [v if k else None for v, k in zip(values, keep.tolist(), strict=True)]


def iso(ms: Sequence[int] | np.ndarray) -> list[str]:
    """Epoch milliseconds as HubSpot writes them: "2024-01-01T00:00:00.000Z"."""
    moments = np.asarray(ms, dtype=np.int64).astype("datetime64[ms]")
    return np.datetime_as_string(moments, unit="ms", timezone="UTC").tolist()


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


@functools.lru_cache(maxsize=1 << 16)
def _company(rid: int) -> tuple[str, str, str]:
    """(name, domain stem, industry) of original company `rid`: Chinook's, then unique made-up ones."""
    if rid <= len(COMPANIES):
        name = COMPANIES[rid - 1]
        return name, _slug(name.split()[0]), _WORDS[rid % len(_WORDS)][1]
    k, stem = divmod(rid - len(COMPANIES) - 1, len(LAST))
    k, word = divmod(k, len(_WORDS))
    k, suffix = divmod(k, len(_SUFFIXES))
    series = str(k + 1) if k else ""
    name = f"{LAST[stem]} {_WORDS[word][0]}{' ' * bool(k)}{series} {_SUFFIXES[suffix]}"
    return name, _slug(LAST[stem] + _WORDS[word][0]) + series, _WORDS[word][1]


def company_name(rid: int) -> str:
    return _company(rid)[0]


def _name_variant(name: str, h: int) -> str:
    """The same name in another case or punctuation ("Acme, Inc." -> "ACME INC")."""
    bare = " ".join(re.sub(r"[^\w\s]", " ", name).split())
    variant = (bare.upper(), name.lower(), bare, name.upper())[h % 4]
    return variant if variant != name else bare.upper()


def _odd_date(day: int, style: int) -> str:
    """A date (days since 1970) in one of the non-ISO formats CRM exports mix in: US, long, epoch ms."""
    d = date(1970, 1, 1) + timedelta(days=day)
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

    def base_key(self, rid: int) -> Key:
        """Whole seconds, increasing with id, so the base order is the id order."""
        return (BASE_START_MS + _LAG_MS + rid * _SPAN_S // (self.n + 1) * 1000, rid)

    def key(self, rid: int) -> Key:
        moved = self.moved.get(rid)
        return (moved, rid) if moved is not None else self.base_key(rid)

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


class _Batch:
    """Records of one entity as numpy columns: ids, versions, hashes, timestamps, and dirt as planted."""

    def __init__(self, data: CrmData, entity: str, keys: Sequence[Key]):
        table, rids = data._tables[entity], [rid for _, rid in keys]
        self.data, self.n, self.sids = data, len(rids), list(map(str, rids))
        self.ids = np.array(rids, dtype=np.uint64)
        versions = table.version  # usually empty: skip the per-record lookup then
        self.version = np.array([versions.get(r, 0) for r in rids] if versions else [0] * self.n, np.uint64)
        self.h0 = _mix(np.uint64(table.salt) ^ self.ids)
        # Stable fields read h0, fields a new version may change read hv. For version 0 (nearly every
        # record) h0 with its halves swapped is an independent-enough hv and saves a second hash.
        swapped = self.h0 << 32 | self.h0 >> 32
        self.hv = np.where(self.version > 0, _mix(self.h0 ^ self.version * _GOLDEN), swapped)
        created = BASE_START_MS + self.ids.astype(np.int64) * _SPAN_S // (table.n + 1) * 1000
        if table.created:
            created = np.array([table.created.get(r, c) for r, c in zip(rids, created.tolist(), strict=True)])
        self.created_ms = np.asarray(created, dtype=np.int64)
        self.created, self.updated = iso(created), iso([updated for updated, _ in keys])
        self.dirt: dict[int, list[dict[str, str]]] = {}  # position in the batch -> dirt found there

    def fk(self, entity: str, h: np.ndarray) -> list[str]:
        """Foreign keys into the base ids of `entity`, which always exist."""
        return _strs(1 + h % self.data.base[entity])

    def flag(self, positions: Iterable[int] | np.ndarray, kind: str, column: str, **extra: str) -> None:
        for pos in positions:
            self.dirt.setdefault(int(pos), []).append({"kind": kind, "field": column, **extra})


class CrmData:
    """The demo CRM's records: generated on demand, plus the overlay left by `mutate`. Not thread-safe."""

    def __init__(self, seed: int = 42, scale: float = 1.0, sizes: Mapping[str, int | None] | None = None):
        self.seed, self.base, self.mutations = seed, sizes_for(scale, sizes), 0
        self._clock = BASE_END_MS
        salts = _mix(np.array([(seed * 1_000_003 + i) % 2**64 for i in range(len(ENTITIES))], np.uint64))
        self._tables = {e: _Table(int(s), n, n) for (e, n), s in zip(self.base.items(), salts, strict=True)}

    def counts(self) -> dict[str, int]:
        return {e: t.count for e, t in self._tables.items()}

    def key(self, entity: str, rid: int) -> Key:
        return self._tables[entity].key(rid)

    def page(self, entity: str, limit: int, bound: Key = (0, 0)) -> tuple[list[dict], Key | None]:
        """Up to `limit` records after `bound`, and the key to continue from (None on the last page)."""
        keys = list(islice(self._tables[entity].keys_after(bound), limit + 1))
        return self.build(entity, keys[:limit])[0], keys[limit - 1] if len(keys) > limit else None

    def record(self, entity: str, rid: int) -> dict:
        if not 1 <= rid <= self._tables[entity].count:
            raise KeyError(f"no {entity} record with id {rid}")
        return self.build(entity, [self.key(entity, rid)])[0][0]

    def build(self, entity: str, keys: Sequence[Key]) -> tuple[list[dict], dict[int, list[dict[str, str]]]]:
        """The records at `keys` as served, and the dirt planted in them by position in `keys`."""
        if not keys:
            return [], {}
        batch = _Batch(self, entity, keys)
        columns = _BUILDERS[entity](batch)
        if entity == "owners":
            return _rows(columns), batch.dirt
        archived = (batch.hv >> 54) < ARCHIVED  # bits 54-63 of hv are reserved for this
        batch.flag(np.flatnonzero(archived), "archived", "archived")
        columns |= {"createdate": batch.created, "hs_lastmodifieddate": batch.updated,
                    "hs_object_id": batch.sids}
        names, values = tuple(columns), zip(*columns.values(), strict=True)
        rows = zip(values, batch.sids, batch.created, batch.updated, archived.tolist(), strict=True)
        return [{"id": i, "properties": dict(zip(names, v, strict=True)), "createdAt": c, "updatedAt": u,
                 "archived": a} for v, i, c, u, a in rows], batch.dirt

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
        for start in range(1, count + 1, 1000):
            ids = range(start, min(start + 1000, count + 1))
            for pos, found in sorted(data.build(entity, [data.key(entity, rid) for rid in ids])[1].items()):
                entries += [{"id": str(ids[pos]), **entry} for entry in found]
    return out


def _rows(columns: Columns) -> list[dict]:
    names = tuple(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _company_roots(data: CrmData, rids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The original company each id copies (itself unless it is a near-duplicate), and its hash."""
    salt = np.uint64(data._tables["companies"].salt)
    roots = rids.astype(np.uint64)
    h = _mix(salt ^ roots)
    moving = (roots > 1) & (_roll(h, 20) < DUPLICATE)
    while moving.any():
        roots = np.where(moving, 1 + (h >> 32) % np.maximum(roots - 1, 1), roots)
        h = _mix(salt ^ roots)
        moving &= (roots > 1) & (_roll(h, 20) < DUPLICATE)
    return roots, h


def _owners(b: _Batch) -> Columns:
    """Owners are clean; the first ones are the company's sales team (HR's sales department, the
    ERP's reps), with their HR work e-mail, so CRM, ERP and HR name the same people."""
    first, last, local = map(list, zip(*_pick(PEOPLE, b.h0), strict=True))
    local = [f"{name}{sid}" for name, sid in zip(local, b.sids, strict=True)]
    team = sales_team()
    for pos in np.flatnonzero(b.ids <= len(team)).tolist():
        person = team[int(b.ids[pos]) - 1]
        first[pos], last[pos] = person["first_name"], person["last_name"]
        local[pos] = person["email"].split("@")[0]
    domains = _pick(_OWNER_DOMAINS, b.version)  # each new version moves the owner to another domain
    return {"id": b.sids, "email": [f"{n}@{d}" for n, d in zip(local, domains, strict=True)],
            "firstName": first, "lastName": last, "userId": (9_000_000 + b.ids).tolist(),
            "createdAt": b.created, "updatedAt": b.updated, "archived": [False] * b.n}


def _companies(b: _Batch) -> Columns:
    roots, root_h = _company_roots(b.data, b.ids)
    name, stem, industry = map(list, zip(*map(_company, roots.tolist()), strict=True))
    for pos in np.flatnonzero(roots != b.ids).tolist():
        name[pos] = _name_variant(name[pos], int(b.h0[pos]))
        b.flag([pos], "duplicate_company", "name", duplicate_of=str(roots[pos]))
    city, country, region, _, phones = zip(*_pick(PLACES, root_h >> 8), strict=True)
    tails, hv = ((root_h >> 16) % 10_000).tolist(), b.hv
    domain = [f"{s}.{_TLD.get(r, r.lower())}" for s, r in zip(stem, region, strict=True)]
    return {"name": name, "domain": domain, "industry": industry, "city": list(city),
            "country": list(country),
            "phone": [p[0][0] + p[0][1][t] for p, t in zip(phones, tails, strict=True)],  # international
            "annualrevenue": _strs(((hv >> 10) % 5000 + 1) * 10_000),
            "numberofemployees": _strs(5 + (hv >> 24) % 5000),
            "lifecyclestage": _pick(LIFECYCLE, hv >> 40), "hubspot_owner_id": b.fk("owners", hv),
            "erp_customer_code": _erp_codes(roots, b.h0),
            "customer_tier": _pick(_TIERS, hv >> 48)}


def _erp_codes(roots: np.ndarray, h: np.ndarray) -> list[str | None]:
    """Most companies that are ERP customers carry the ERP id (a custom field sales keeps up to date);
    a few other companies carry a code the ERP does not know (typos, prospects with a reserved code)."""
    known = [ERP_CUSTOMER_IDS[r - 1] if r <= len(ERP_CUSTOMER_IDS) else None for r in roots.tolist()]
    roll = _roll(h, 30)
    return [code if code and keep else (f"CUST-{r:05d}" if code is None and odd else None)
            for code, keep, odd, r in zip(known, (roll < 640).tolist(), (roll < 16).tolist(), roots.tolist(),
                                          strict=True)]


def _contacts(b: _Batch) -> Columns:
    h0, hv = b.h0, b.hv
    first, last, stem = zip(*_pick(PEOPLE, h0), strict=True)
    city, country, _, language, phones = zip(*_pick(PLACES, h0 >> 13), strict=True)
    domain = _pick(EMAIL_DOMAINS, h0 >> 19)
    email = [f"{name}{sid}@{d}" for name, sid, d in zip(stem, b.sids, domain, strict=True)]
    styles, tails = ((hv >> 20) % 6).tolist(), ((hv >> 24) % 10_000).tolist()
    phone = [p[s][0] + p[s][1][t] for p, s, t in zip(phones, styles, tails, strict=True)]
    _soil_contacts(b, domain, email, phone)
    return {"firstname": list(first), "lastname": list(last), "email": email, "phone": phone,
            "associatedcompanyid": _some(b.fk("companies", h0 >> 32), (h0 >> 28) % 10 > 0),
            "jobtitle": _pick(_JOB_TITLES, hv >> 38), "lifecyclestage": _pick(LIFECYCLE, hv >> 42),
            "hs_lead_source": _pick(LEAD_SOURCES, h0 >> 60), "city": list(city), "country": list(country),
            "hubspot_owner_id": b.fk("owners", hv >> 45), "loyalty_score": _pick(_SCORES, hv >> 34),
            "preferred_language": list(language)}


def _soil_contacts(b: _Batch, domain: list, email: list[str], phone: list[str]) -> None:
    """Blank or malformed e-mails (bits 0-9 of hv) and phones (bits 10-19) in a few contacts."""
    for shift, column, values in ((0, "email", email), (10, "phone", phone)):
        rolls = _roll(b.hv, shift)
        for pos in np.flatnonzero(rolls < BLANK + MALFORMED).tolist():
            roll = int(rolls[pos])
            if roll < BLANK:
                values[pos] = ""
            elif column == "email":
                name = email[pos].split("@")[0]
                values[pos] = _BAD_EMAILS[roll % 4].format(local=name, domain=domain[pos],
                                                           spaced=name.replace(".", " ", 1))
            else:
                values[pos] = _BAD_PHONES[roll % len(_BAD_PHONES)]
            b.flag([pos], f"{'blank' if roll < BLANK else 'malformed'}_{column}", column)


def _deals(b: _Batch) -> Columns:
    h0, hv = b.h0, b.hv
    company = 1 + (h0 >> 16) % b.data.base["companies"]
    stage, rolls = _pick(STAGES, hv >> 10), _roll(hv, 0)
    for pos in np.flatnonzero(rolls < UNKNOWN_STAGE).tolist():
        stage[pos] = _UNKNOWN_STAGES[int(rolls[pos]) % len(_UNKNOWN_STAGES)]
        b.flag([pos], "unknown_stage", "dealstage")
    cents, negative = (hv >> 14) % 5_000_000 + 50_000, _roll(hv, 44) < NEGATIVE_AMOUNT
    b.flag(np.flatnonzero(negative), "negative_amount", "amount")
    day, rolls = (19_358 + (hv >> 24) % CRM_CLOSE_DAYS).astype(np.int64), _roll(hv, 34)  # from 2023-01-01
    closedate = np.datetime_as_string(day.astype("datetime64[D]")).tolist()
    for pos in np.flatnonzero(rolls < MIXED_DATE).tolist():
        closedate[pos] = _odd_date(int(day[pos]), 1 + int(rolls[pos]) % 3)
        b.flag([pos], "mixed_date_format", "closedate")
    names = map(company_name, _company_roots(b.data, company)[0].tolist())
    return {"dealname": [f"{n} – {p}" for n, p in zip(names, _pick(_PRODUCTS, h0), strict=True)],
            "pipeline": _pick(_PIPELINES, h0 >> 4), "dealstage": stage,
            "amount": [f"{'-' * n}{c // 100}.{c % 100:02d}"
                       for c, n in zip(cents.tolist(), negative.tolist(), strict=True)],
            "deal_currency_code": _pick(CURRENCIES, h0 >> 8), "closedate": closedate,
            "hubspot_owner_id": b.fk("owners", hv >> 40), "associatedcompanyid": _strs(company),
            "forecast_category": [_FORECAST.get(s, "pipeline") for s in stage]}


def _activities(b: _Batch) -> Columns:
    h0, hv = b.h0, b.hv
    kind = _pick(_ACTIVITY_TYPES, h0)
    subjects, outcomes = ((h0 >> 60) % 3).tolist(), ((hv >> 44) % 12).tolist()  # 12: a multiple of 3 and 4
    return {"hs_activity_type": kind, "hs_timestamp": b.created, "hubspot_owner_id": b.fk("owners", hv >> 4),
            "associatedcontactid": b.fk("contacts", h0 >> 8),
            "associateddealid": _some(b.fk("deals", h0 >> 32), (h0 >> 2) % 10 < 6),
            "hs_activity_subject": [_SUBJECTS[k][s] for k, s in zip(kind, subjects, strict=True)],
            "hs_call_duration": _some(_strs(15_000 + (hv >> 20) % 1_800_000), np.array(kind) == "CALL"),  # ms
            "hs_activity_outcome": [_OUTCOMES[k][o % len(_OUTCOMES[k])]
                                    for k, o in zip(kind, outcomes, strict=True)]}


_REPLY_MINUTES = {"HIGH": 60, "MEDIUM": 240, "LOW": 720}  # slowest first reply per priority


def _tickets(b: _Batch) -> Columns:
    h0, hv = b.h0, b.hv
    subject, stage, priority = _pick(_TICKET_SUBJECTS, h0), _pick(_TICKET_STAGES, hv), _pick(_PRIORITIES, hv >> 4)
    return {"subject": subject,
            "content": [f"Customer reports: {s.lower()} (ref T-{i})."
                        for s, i in zip(subject, b.sids, strict=True)],
            "hs_pipeline_stage": stage, "hs_ticket_priority": priority,
            **_ticket_times(b, stage, priority),
            "associatedcontactid": b.fk("contacts", h0 >> 8),
            "associatedcompanyid": _some(b.fk("companies", h0 >> 32), (h0 >> 4) % 10 < 7),
            "hubspot_owner_id": b.fk("owners", hv >> 8),
            "ticket_category": _pick(_TICKET_CATEGORIES, h0 >> 60)}


def _ticket_times(b: _Batch, stage: list[str], priority: list[str]) -> Columns:
    """First agent reply (none while a ticket is new) and close time (closed tickets only), as HubSpot's
    first_agent_reply_date and closed_date: a reply within the priority's target, the close before the
    record's last modification (base records were last modified a day after creation)."""
    limit = np.array([_REPLY_MINUTES[p] for p in priority], dtype=np.int64)
    reply_min = 5 + (b.hv >> 12).astype(np.int64) % limit
    closed_min = reply_min + 1 + (b.hv >> 24).astype(np.int64) % (1430 - reply_min)
    reply, closed = b.created_ms + reply_min * 60_000, b.created_ms + closed_min * 60_000
    replied, done = np.array([s != "new" for s in stage]), np.array([s == "closed" for s in stage])
    return {"first_agent_reply_date": _some(iso(reply), replied), "closed_date": _some(iso(closed), done)}


_BUILDERS: dict[str, Callable[[_Batch], Columns]] = {
    "owners": _owners, "companies": _companies, "contacts": _contacts, "deals": _deals,
    "activities": _activities, "tickets": _tickets}
