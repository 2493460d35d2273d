"""The demo CRM as a real subprocess (demo.process): auth, paging, increments, search, faults."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
import requests

from demo.crm_data import CrmData, planted_dirt
from demo.process import DemoServer, start_demo_server

TOKEN = "test-token"
SIZES = {"owners": 5, "companies": 40, "contacts": 230, "deals": 60, "activities": 50, "tickets": 20}
PATHS = {entity: f"/crm/v3/objects/{entity}" for entity in SIZES} | {"owners": "/crm/v3/owners"}


@pytest.fixture(scope="module")
def crm() -> Iterator[DemoServer]:
    """Read-only tests share this server; tests that mutate start their own."""
    with start_demo_server("crm", seed=3, token=TOKEN, max_page_size=150, **SIZES) as srv:
        yield srv


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        yield session


def fetch_all(http: requests.Session, url: str, **params: object) -> list[dict]:
    """Every record, following paging.next.after until the last page (which has no paging)."""
    records: list[dict] = []
    for _ in range(1000):  # a cursor that never ends fails the test instead of hanging it
        response = http.get(url, params=params, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        records += body["results"]
        if "paging" not in body:
            return records
        params = {**params, "after": body["paging"]["next"]["after"]}
    raise AssertionError(f"paging of {url} did not end after 1000 pages")


def test_requests_without_the_bearer_token_get_401(crm: DemoServer, http: requests.Session) -> None:
    url = f"{crm.url}/crm/v3/objects/contacts"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = requests.get(url, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json()["status"] == "error" and "token" in response.json()["message"]
    assert http.get(url, timeout=10).status_code == 200


def test_unknown_object_types_get_404(crm: DemoServer, http: requests.Session) -> None:
    response = http.get(f"{crm.url}/crm/v3/objects/leads", timeout=10)
    assert response.status_code == 404 and response.json()["status"] == "error"


@pytest.mark.parametrize("entity", SIZES)
def test_paging_returns_every_record_once_in_updated_at_order(
        crm: DemoServer, http: requests.Session, entity: str) -> None:
    records = fetch_all(http, crm.url + PATHS[entity], limit=7)
    assert sorted(int(r["id"]) for r in records) == list(range(1, SIZES[entity] + 1))
    keys = [(r["updatedAt"], int(r["id"])) for r in records]
    assert keys == sorted(keys)


def test_next_link_is_a_full_url_of_the_next_page(crm: DemoServer, http: requests.Session) -> None:
    first = http.get(f"{crm.url}/crm/v3/objects/deals", params={"limit": 5}, timeout=10).json()
    following = http.get(first["paging"]["next"]["link"], timeout=10).json()
    assert [r["id"] for r in following["results"]] == ["6", "7", "8", "9", "10"]


def test_limit_defaults_to_100_and_is_clamped(crm: DemoServer, http: requests.Session) -> None:
    url = f"{crm.url}/crm/v3/objects/contacts"
    assert len(http.get(url, timeout=10).json()["results"]) == 100
    assert len(http.get(url, params={"limit": 1000}, timeout=10).json()["results"]) == 150
    assert http.get(url, params={"limit": 0}, timeout=10).status_code == 400
    assert http.get(url, params={"after": "not-a-cursor"}, timeout=10).status_code == 400


def test_search_filters_on_last_modified_date(crm: DemoServer, http: requests.Session) -> None:
    contacts = fetch_all(http, f"{crm.url}/crm/v3/objects/contacts", limit=100)
    threshold = contacts[99]["updatedAt"]
    expected = [r["id"] for r in contacts[100:]]
    newer = fetch_all(http, f"{crm.url}/crm/v3/objects/contacts", updatedAfter=threshold)
    assert [r["id"] for r in newer] == expected
    url = f"{crm.url}/crm/v3/objects/contacts/search"
    for name, value in (("lastmodifieddate", threshold), ("hs_lastmodifieddate", _epoch_ms(threshold))):
        found, after = [], None
        for _ in range(100):
            flt = {"propertyName": name, "operator": "GT", "value": value}
            body = http.post(url, json={"filterGroups": [{"filters": [flt]}], "limit": 40, "after": after},
                             timeout=10).json()
            found += [r["id"] for r in body["results"]]
            if "paging" not in body:
                break
            after = body["paging"]["next"]["after"]
        assert found == expected
    bad = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "x"}]}]}
    assert http.post(url, json=bad, timeout=10).status_code == 400


def _epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def test_admin_dirty_lists_the_dirt_the_generator_planted(crm: DemoServer, http: requests.Session) -> None:
    dirty = crm.admin("dirty")
    assert dirty == planted_dirt(CrmData(seed=3, sizes=SIZES))
    served = {r["id"]: r for r in fetch_all(http, f"{crm.url}/crm/v3/objects/contacts", limit=150)}
    for entry in dirty["contacts"]:
        if entry["kind"] in ("blank_email", "blank_phone"):
            assert served[entry["id"]]["properties"][entry["field"]] == ""
        if entry["kind"] == "archived":
            assert served[entry["id"]]["archived"] is True
    assert crm.admin("stats") == SIZES


def test_updated_after_returns_exactly_the_changed_and_added_records() -> None:
    with start_demo_server("crm", seed=9, token=TOKEN, **SIZES) as crm, requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        before = {e: fetch_all(http, crm.url + path, limit=100) for e, path in PATHS.items()}
        result = crm.admin("mutate", {"fraction": 0.1, "new": 3})
        for entity, path in PATHS.items():
            since = max(r["updatedAt"] for r in before[entity])
            changed = fetch_all(http, crm.url + path, updatedAfter=since, limit=10)
            assert [r["id"] for r in changed] == result["changed_ids"][entity] + result["added_ids"][entity]
            assert result["changed"][entity] == round(0.1 * SIZES[entity]) and result["added"][entity] == 3
        assert crm.admin("stats") == {e: n + 3 for e, n in SIZES.items()}


def test_a_record_changed_mid_sync_is_not_skipped_but_moves_to_the_end() -> None:
    with start_demo_server("crm", seed=9, token=TOKEN, contacts=200) as crm, requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        url = f"{crm.url}/crm/v3/objects/contacts"
        first = http.get(url, params={"limit": 50}, timeout=10).json()
        changed = crm.admin("mutate", {"fraction": 0.25, "entities": ["contacts"]})["changed_ids"]["contacts"]
        rest = fetch_all(http, url, limit=50, after=first["paging"]["next"]["after"])
        seen = first["results"] + rest
        assert {r["id"] for r in seen} == {str(i) for i in range(1, 201)}
        assert len({(r["id"], r["updatedAt"]) for r in seen}) == len(seen)  # no version twice
        read_early = {r["id"] for r in first["results"]}
        assert [r["id"] for r in rest[-len(changed):]] == changed  # every changed one, again, at the end
        assert len(seen) == 200 + len(read_early & set(changed))


def test_429_with_retry_after_until_the_fault_is_reset(crm: DemoServer, http: requests.Session) -> None:
    url = f"{crm.url}/crm/v3/owners"
    try:
        assert crm.admin("faults", {"rate_429": 1.0, "retry_after": "0"})["rate_429"] == 1.0
        for _ in range(3):
            response = http.get(url, timeout=10)
            assert response.status_code == 429 and response.headers["Retry-After"] == "0"
        assert crm.admin("stats") == SIZES  # admin is never faulted
    finally:
        crm.admin("faults", {"rate_429": 0})
    assert http.get(url, timeout=10).status_code == 200


def test_500_and_dropped_connections_can_be_injected(crm: DemoServer, http: requests.Session) -> None:
    url = f"{crm.url}/crm/v3/owners"
    try:
        crm.admin("faults", {"rate_500": 1.0})
        assert http.get(url, timeout=10).status_code == 500
        crm.admin("faults", {"rate_500": 0, "rate_drop": 1.0})
        with pytest.raises(requests.ConnectionError):
            http.get(url, timeout=10)
    finally:
        crm.admin("faults", {"rate_500": 0, "rate_drop": 0})
    assert http.get(url, timeout=10).status_code == 200


def test_faults_can_be_set_on_the_command_line() -> None:
    with start_demo_server("crm", scale=0.01, rate_429=1.0, retry_after="7") as crm:
        response = requests.get(f"{crm.url}/crm/v3/owners", headers={"Authorization": "Bearer demo-token"},
                                timeout=10)
        assert (response.status_code, response.headers["Retry-After"]) == (429, "7")


def test_a_server_that_cannot_start_raises_with_its_stderr() -> None:
    with pytest.raises(RuntimeError, match="invalid float value: 'lots'"):
        with start_demo_server("crm", scale="lots"):
            pass


def test_the_server_process_is_stopped_when_the_block_ends() -> None:
    with start_demo_server("crm", scale=0.01) as srv:
        assert srv.process.poll() is None
    assert srv.process.poll() is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(srv.url + "/_admin/stats", timeout=5)
