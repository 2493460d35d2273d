"""The demo CRM's data generator (demo.crm_data), without a server: determinism, keys, dirt, mutations."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import phonenumbers
import pytest

from demo.crm_data import PLACES, STAGES, CrmData, iso, planted_dirt, sizes_for

SIZES = {"owners": 12, "companies": 600, "contacts": 4000, "deals": 2000, "activities": 400, "tickets": 300}
FOREIGN_KEYS = {"hubspot_owner_id": "owners", "associatedcompanyid": "companies",
                "associatedcontactid": "contacts", "associateddealid": "deals"}
EMAIL = re.compile(r"^[a-z0-9.]+@[a-z0-9-]+(\.[a-z0-9-]+)+$")
REGION = {country: region for _, country, region, _, _ in PLACES}


@pytest.fixture(scope="module")
def data() -> CrmData:
    return CrmData(seed=7, sizes=SIZES)


@pytest.fixture(scope="module")
def records(data: CrmData) -> dict[str, list[dict]]:
    return {entity: all_records(data, entity) for entity in SIZES}


@pytest.fixture(scope="module")
def dirt(data: CrmData) -> dict[str, dict[str, set[str]]]:
    """kind -> ids, per entity."""
    out: dict[str, dict[str, set[str]]] = {}
    for entity, entries in planted_dirt(data).items():
        for entry in entries:
            out.setdefault(entity, {}).setdefault(entry["kind"], set()).add(entry["id"])
    return out


def all_records(data: CrmData, entity: str, page_size: int = 333) -> list[dict]:
    out: list[dict] = []
    bound: tuple[int, int] | None = (0, 0)
    while bound:
        page, bound = data.page(entity, page_size, bound)
        out += page
        assert len(out) <= 2 * data.counts()[entity], "paging does not end"
    return out


def props(record: dict) -> dict:
    return record.get("properties", record)


@pytest.mark.parametrize("entity", SIZES)
def test_same_seed_gives_same_records_and_another_seed_others(entity: str) -> None:
    ids = range(1, min(40, SIZES[entity]) + 1)
    first = [CrmData(seed=42, sizes=SIZES).record(entity, i) for i in ids]
    assert first == [CrmData(seed=42, sizes=SIZES).record(entity, i) for i in ids]
    other = [CrmData(seed=43, sizes=SIZES).record(entity, i) for i in ids]
    differing = sum(props(a) != props(b) for a, b in zip(first, other, strict=True))
    if entity == "owners":  # the first 34 are the company's sales team, whatever the seed
        team = min(34, len(ids))
        assert first[:team] == other[:team] and differing >= (len(ids) - team) * 0.9
    else:
        assert differing >= len(ids) * 0.9


@pytest.mark.parametrize("entity", SIZES)
def test_paging_yields_every_id_once_in_updated_at_then_id_order(entity: str, records: dict) -> None:
    got = records[entity]
    assert [int(r["id"]) for r in got] == list(range(1, SIZES[entity] + 1))
    keys = [(r["updatedAt"], int(r["id"])) for r in got]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_all_values_are_strings_or_null_as_in_hubspot(records: dict) -> None:
    for entity in ("companies", "contacts", "deals", "activities", "tickets"):
        bad = {k: v for r in records[entity] for k, v in r["properties"].items()
               if v is not None and not isinstance(v, str)}
        assert not bad, entity


def test_foreign_keys_point_at_existing_records(records: dict) -> None:
    checked = 0
    for entity in ("companies", "contacts", "deals", "activities", "tickets"):
        for record in records[entity]:
            for column, target in FOREIGN_KEYS.items():
                if (value := record["properties"].get(column)) is not None:
                    assert 1 <= int(value) <= SIZES[target], (entity, record["id"], column, value)
                    checked += 1
    assert checked > 10_000


@pytest.mark.parametrize(("entity", "kind"), [
    ("contacts", "blank_email"), ("contacts", "malformed_email"), ("contacts", "blank_phone"),
    ("contacts", "malformed_phone"), ("deals", "unknown_stage"), ("deals", "negative_amount"),
    ("deals", "mixed_date_format"), ("companies", "duplicate_company"),
    ("contacts", "archived"), ("deals", "archived"), ("companies", "archived")])
def test_dirt_rates_are_small_but_present(entity: str, kind: str, dirt: dict) -> None:
    share = len(dirt[entity].get(kind, ())) / SIZES[entity]
    assert 0.003 <= share <= 0.035, f"{entity} {kind}: {share:.2%}"


def test_owners_are_clean_and_are_the_hr_sales_team(records: dict, dirt: dict) -> None:
    """The same people as HR's sales department, with HR's work e-mail (demo/company.py)."""
    from demo.hr_data import load_hr

    assert "owners" not in dirt
    hr = {e["email"].lower() + "@hr.example": e for e in load_hr()["employees"] if e["department_id"] == 80}
    assert [o["email"] for o in records["owners"][:3]] == ["jsingh@hr.example", "kpartner@hr.example",
                                                          "aerrazur@hr.example"]
    for owner in records["owners"][:len(hr)]:
        person = hr[owner["email"]]
        assert (owner["firstName"], owner["lastName"]) == (person["first_name"], person["last_name"])


def test_contact_dirt_list_matches_what_the_records_show(records: dict, dirt: dict) -> None:
    contacts, found = records["contacts"], dirt["contacts"]
    blank_email = {c["id"] for c in contacts if c["properties"]["email"] == ""}
    emails = {c["id"]: c["properties"]["email"] for c in contacts}
    bad_email = {i for i, email in emails.items() if email and not EMAIL.match(email)}
    blank_phone = {c["id"] for c in contacts if c["properties"]["phone"] == ""}
    assert (blank_email, bad_email, blank_phone) == (
        found["blank_email"], found["malformed_email"], found["blank_phone"])
    assert {c["id"] for c in contacts if c["archived"]} == found["archived"]


def is_valid_phone(phone: str, country: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(phone, REGION[country]))
    except phonenumbers.NumberParseException:
        return False


def test_valid_phones_parse_for_their_country_and_malformed_ones_do_not(records: dict, dirt: dict) -> None:
    bad, blank = dirt["contacts"]["malformed_phone"], dirt["contacts"]["blank_phone"]
    clean = [c["properties"] for c in records["contacts"] if c["id"] not in bad | blank]
    malformed = [c["properties"] for c in records["contacts"] if c["id"] in bad]
    assert sum(is_valid_phone(p["phone"], p["country"]) for p in clean) >= 0.99 * len(clean)
    assert not any(is_valid_phone(p["phone"], p["country"]) for p in malformed)
    formats = {re.sub(r"\d", "9", p["phone"]) for p in clean}
    north_america = {"+9 (999) 999-9999", "(999) 999-9999", "999.999.9999"}
    assert north_america | {"+99 999 9999 9999", "999 9999 9999"} <= formats  # and the UK's


def test_deal_dirt_list_matches_what_the_records_show(records: dict, dirt: dict) -> None:
    deals, found = records["deals"], dirt["deals"]
    assert {d["id"] for d in deals if d["properties"]["dealstage"] not in STAGES} == found["unknown_stage"]
    assert {d["id"] for d in deals if d["properties"]["amount"].startswith("-")} == found["negative_amount"]
    not_iso = {d["id"] for d in deals if not re.fullmatch(r"\d{4}-\d\d-\d\d", d["properties"]["closedate"])}
    assert not_iso == found["mixed_date_format"]


def parse_any_date(text: str) -> date:
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC).date()
    for fmt in ("%Y-%m-%d", "%m/%d/%Y", "%d %b %Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise ValueError(text)


def test_closedates_are_valid_dates_in_four_formats(records: dict) -> None:
    dates = [d["properties"]["closedate"] for d in records["deals"]]
    assert all(date(2023, 1, 1) <= parse_any_date(text) <= date(2026, 12, 31) for text in dates)
    shapes = {re.sub(r"[A-Za-z]+", "a", re.sub(r"\d+", "9", text)) for text in dates}
    assert shapes == {"9-9-9", "9/9/9", "9 a 9", "9"}


def normalised(name: str) -> str:
    return re.sub(r"\W", "", name.lower())


def test_duplicate_companies_differ_only_in_case_and_punctuation(records: dict, dirt: dict) -> None:
    names = {c["id"]: c["properties"]["name"] for c in records["companies"]}
    duplicates = dirt["companies"]["duplicate_company"]
    originals = {normalised(n) for i, n in names.items() if i not in duplicates}
    assert len(originals) == len(names) - len(duplicates)  # originals are unique even when normalised
    entries = [e for e in planted_dirt(CrmData(seed=7, sizes=SIZES))["companies"]
               if e["kind"] == "duplicate_company"]
    for entry in entries:
        copy, original = names[entry["id"]], names[entry["duplicate_of"]]
        assert copy != original and normalised(copy) == normalised(original)


def test_a_new_version_changes_volatile_fields_but_keeps_identity() -> None:
    data = CrmData(seed=5, sizes={"contacts": 300, "deals": 300, "owners": 5})
    before = {e: all_records(data, e) for e in ("contacts", "deals", "owners")}
    data.mutate(fraction=1.0)
    for entity, old in before.items():
        new = {r["id"]: r for r in all_records(data, entity)}
        changed = [r for r in old if {**props(r), "hs_lastmodifieddate": ""} !=
                   {**props(new[r["id"]]), "hs_lastmodifieddate": ""}]
        assert len(changed) >= 0.9 * len(old), entity
    after = {r["id"]: r["properties"] for r in all_records(data, "contacts")}
    assert all(after[r["id"]]["lastname"] == r["properties"]["lastname"] for r in before["contacts"])


def test_mutate_moves_changed_and_added_records_after_all_others() -> None:
    data = CrmData(seed=3, sizes={"contacts": 500})
    latest = max(r["updatedAt"] for r in all_records(data, "contacts"))
    result = data.mutate(fraction=0.02, new=4, entities=["contacts"])
    assert result["changed"] == {"contacts": 10} and result["added"] == {"contacts": 4}
    assert result["added_ids"]["contacts"] == ["501", "502", "503", "504"]
    tail = all_records(data, "contacts")[-14:]
    assert [r["id"] for r in tail] == result["changed_ids"]["contacts"] + result["added_ids"]["contacts"]
    assert min(r["updatedAt"] for r in tail) > latest
    assert CrmData(seed=3, sizes={"contacts": 500}).mutate(0.02, 4, ["contacts"]) == result


def test_small_pages_after_mutations_serve_each_record_once() -> None:
    data = CrmData(seed=4, sizes={"deals": 120})
    data.mutate(fraction=0.3, new=5, entities=["deals"])
    data.mutate(fraction=0.3, entities=["deals"])
    keys = [(r["updatedAt"], int(r["id"])) for r in all_records(data, "deals", page_size=7)]
    assert sorted(k[1] for k in keys) == list(range(1, 126)) and keys == sorted(keys)


def test_mutate_rejects_unknown_entities_and_bad_fractions() -> None:
    with pytest.raises(ValueError, match="unknown entities \\['leads'\\]"):
        CrmData().mutate(entities=["leads"])
    with pytest.raises(ValueError, match="fraction must be in \\[0, 1\\]"):
        CrmData().mutate(fraction=1.5)


def test_sizes_scale_and_overrides() -> None:
    assert sizes_for(0.5, {"contacts": 7}) == {
        "owners": 10, "companies": 250, "contacts": 7, "deals": 750, "activities": 2000, "tickets": 300}
    assert sizes_for(0.0001)["owners"] == 1
    with pytest.raises(ValueError, match="contacts count must be at least 1"):
        sizes_for(1, {"contacts": 0})


def test_iso_matches_datetime() -> None:
    moments = [0, 1_704_067_200_000, 1_735_689_600_001, 1_772_323_199_999]
    expected = [datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
                for ms in moments]
    assert iso(moments) == expected
