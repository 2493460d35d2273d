"""The demo HR server over real HTTP: counts, page-number paging, Basic auth, incremental reads.

Expected counts are read from the Oracle script itself (one INSERT per row), so the test checks the
translation rather than repeating the loader.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from demo.hr_data import DATA_DIR, oracle_date
from demo.hr_server import HR_TZ, HrStore, parse_since

REPO = Path(__file__).resolve().parents[2]
AUTH = ("hr", "hr-secret")
TABLES = ("employees", "departments", "jobs", "job_history", "locations", "countries", "regions")


@contextlib.contextmanager
def launch_hr(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start ``python -m demo.hr_server --port 0`` and yield its base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "demo.hr_server", "--port", "0", *args],
                            cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("LISTENING http://127.0.0.1:"), first
        yield first.split(" ", 1)[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with launch_hr() as url:
        yield url


def fetch_all(session: requests.Session, url: str, per_page: int, **params: str) -> list[dict]:
    rows, page = [], 1
    while True:
        body = session.get(url, params={"page": page, "per_page": per_page, **params}, auth=AUTH).json()
        rows += body["data"]
        if page >= body["meta"]["total_pages"]:
            return rows
        page += 1


def sql_row_counts() -> dict[str, int]:
    script = (DATA_DIR / "hr_populate.sql").read_text(encoding="utf-8")
    return {t: len(re.findall(rf"INSERT INTO {t}\b", script, re.IGNORECASE)) for t in TABLES}


def test_counts_equal_the_oracle_script(base_url: str) -> None:
    expected = sql_row_counts()
    assert {k: expected[k] for k in ("employees", "departments", "jobs", "job_history", "locations")} == {
        "employees": 107, "departments": 27, "jobs": 19, "job_history": 10, "locations": 23}
    for table in TABLES:
        meta = requests.get(f"{base_url}/api/v1/{table}", auth=AUTH, timeout=10).json()["meta"]
        assert meta["total"] == expected[table], table
    stats = requests.get(f"{base_url}/_admin/stats", timeout=10).json()
    assert stats == {"counts": expected, "mutations": 0, "mutated_employees": 0}


@pytest.mark.parametrize("per_page", [1, 7, 50, 200])
def test_page_numbers_return_each_employee_once(base_url: str, per_page: int) -> None:
    with requests.Session() as session:
        first = session.get(f"{base_url}/api/v1/employees", params={"per_page": per_page}, auth=AUTH)
        assert first.json()["meta"] == {"page": 1, "per_page": per_page, "total": 107,
                                        "total_pages": -(-107 // per_page)}
        rows = fetch_all(session, f"{base_url}/api/v1/employees", per_page)
    ids = [r["employee_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 107
    assert [(r["last_modified"], r["employee_id"]) for r in rows] == sorted(
        (r["last_modified"], r["employee_id"]) for r in rows)


def test_paging_limits_and_bad_parameters(base_url: str) -> None:
    url = f"{base_url}/api/v1/employees"
    assert requests.get(url, params={"per_page": 1000}, auth=AUTH).json()["meta"]["per_page"] == 200
    beyond = requests.get(url, params={"page": 99}, auth=AUTH).json()
    assert beyond["data"] == [] and beyond["meta"]["total"] == 107
    for bad in ({"page": "0"}, {"per_page": "x"}, {"modified_since": "yesterday"}):
        response = requests.get(url, params=bad, auth=AUTH)
        assert response.status_code == 400, bad
        assert "error" in response.json()
    assert requests.get(f"{base_url}/api/v1/salaries", auth=AUTH).status_code == 404


def test_requests_without_valid_basic_auth_get_401(base_url: str) -> None:
    for auth in (None, ("hr", "wrong"), ("nobody", "hr-secret")):
        response = requests.get(f"{base_url}/api/v1/employees", auth=auth, timeout=10)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert requests.get(f"{base_url}/api/v1/employees", auth=AUTH).status_code == 200


def test_credentials_come_from_environment() -> None:
    with launch_hr(env={"DEMO_HR_USER": "alice", "DEMO_HR_PASSWORD": "s3cret"}) as url:
        assert requests.get(f"{url}/api/v1/jobs", auth=AUTH).status_code == 401
        assert requests.get(f"{url}/api/v1/jobs", auth=("alice", "s3cret")).status_code == 200


def test_oracle_dates_and_derived_fields(base_url: str) -> None:
    rows = fetch_all(requests.Session(), f"{base_url}/api/v1/employees", 200)
    employees = {e["employee_id"]: e for e in rows}
    king = employees[100]
    # Schema version 21 of the sample moved hire dates: TO_DATE('17-06-2013', 'dd-MM-yyyy').
    assert (king["first_name"], king["last_name"], king["hire_date"]) == ("Steven", "King", "17.06.2013")
    assert king["work_email"] == "sking@hr.example" and king["active"] == "Y"
    assert king["last_modified"] == "2013-06-17 09:00:00+02:00"
    assert king["manager_id"] is None and king["commission_pct"] is None and king["salary"] == 24000
    assert employees[178]["department_id"] is None  # Kimberely Grant, a documented dataset trait
    assert sum(e["commission_pct"] is not None for e in employees.values()) == 35
    assert all(re.fullmatch(r"\d\d\.\d\d\.\d{4}", e["hire_date"]) for e in employees.values())
    history = requests.get(f"{base_url}/api/v1/job_history", auth=AUTH).json()["data"]
    assert {"employee_id": 102, "start_date": "13.01.2011", "end_date": "24.07.2016"}.items() <= next(
        h for h in history if h["employee_id"] == 102).items()


@pytest.mark.parametrize(("value", "oracle_format", "expected"), [
    ("17-JUN-1987", "dd-MON-yyyy", dt.date(1987, 6, 17)),
    ("17-06-2013", "dd-MM-yyyy", dt.date(2013, 6, 17)),
    ("17-06-2013", "dd-%m-yyyy", dt.date(2013, 6, 17)),  # as sqlglot half-translates it
    ("1987-06-17 13:05:00", "YYYY-MM-DD HH24:MI:SS", dt.datetime(1987, 6, 17, 13, 5)),
])
def test_oracle_to_date_formats(value: str, oracle_format: str, expected: dt.date) -> None:
    assert oracle_date(value, oracle_format) == expected


@pytest.mark.parametrize("text", ["2013-06-17 09:00:00+02:00", "2013-06-17T07:00:00Z", "2013-06-17 09:00",
                                  "2013-06-17 09:00:00 02:00"])  # the last: an unencoded '+' in a URL
def test_modified_since_accepts_iso_variants(text: str) -> None:
    assert parse_since(text) == dt.datetime(2013, 6, 17, 9, 0, tzinfo=HR_TZ)


def test_modified_since_returns_exactly_the_mutated_rows() -> None:
    with launch_hr() as url, requests.Session() as session:
        before = {e["employee_id"]: e for e in fetch_all(session, f"{url}/api/v1/employees", 50)}
        watermark = max(e["last_modified"] for e in before.values())
        mutation = session.post(f"{url}/_admin/mutate", json={"fraction": 0.05, "seed": 1}).json()
        assert len(mutation["mutated"]) == round(0.05 * 107)
        changed = fetch_all(session, f"{url}/api/v1/employees", 2, modified_since=watermark)
        assert sorted(e["employee_id"] for e in changed) == mutation["mutated"]
        assert all(e["last_modified"] > watermark for e in changed)
        for emp in changed:
            old = before[emp["employee_id"]]
            assert emp["salary"] != old["salary"] and emp["phone_number"] != old["phone_number"]
        # Strictly greater: the newest row's own timestamp is not returned again.
        newest = max(e["last_modified"] for e in changed)
        assert fetch_all(session, f"{url}/api/v1/employees", 50, modified_since=newest) == []
        stats = session.get(f"{url}/_admin/stats").json()
        assert (stats["mutations"], stats["mutated_employees"]) == (1, len(mutation["mutated"]))


def test_mutation_is_deterministic_per_seed() -> None:
    first, second, other = HrStore(), HrStore(), HrStore()
    assert first.mutate(0.1, seed=7) == second.mutate(0.1, seed=7)
    assert first.mutate(0.1, seed=7)["mutated"] != other.mutate(0.1, seed=8)["mutated"]


def test_connection_is_kept_alive(base_url: str) -> None:
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request("GET", "/_admin/stats")
        conn.getresponse().read()
        sock = conn.sock
        conn.request("GET", "/api/v1/regions")
        response = conn.getresponse()
        assert response.status == 401 and response.read()
        assert conn.sock is sock and sock is not None
    finally:
        conn.close()
