"""Demo HR system: a small REST API over Oracle's HR sample, shaped unlike the demo CRM on purpose.

The pipelines must cope with more than one API style, so this server differs from the CRM demo:
page-number paging (``?page=2&per_page=50``, at most 200, with ``meta.total_pages``), HTTP Basic
auth, German-style dates (``hire_date`` "17.06.2013"), ``last_modified`` as
"2013-06-17 09:00:00+02:00", and Y/N strings for booleans. Every record carries ``last_modified``
and ``?modified_since=<ISO>`` (strictly greater, ordered by last_modified then primary key) lets
an incremental sync resume. ``POST /_admin/mutate`` changes a seeded share of employees with a
later ``last_modified`` so incremental runs have something to pick up; admin routes need no auth.

Write side (demo/write_api.py, same auth): ``key_accounts`` (the accounts each employee manages;
``account_manager_id`` must be an HR employee) and ``marketing_list_members``. ``--sales-team`` adds
Chinook's eight employees to the Sales department as employees 301-308. The demo no longer needs it:
CRM owners and ERP reps are HR's own Sales department (demo/company.py).

Run: ``python -m demo.hr_server --port 0`` prints ``LISTENING http://127.0.0.1:PORT`` first.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hmac
import os
import random
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson

from demo.hr_data import PRIMARY_KEYS, load_hr
from demo.write_api import Rule, WriteStore, route

HR_TZ = dt.timezone(dt.timedelta(hours=2))
EMAIL_DOMAIN = "hr.example"
DEFAULT_PER_PAGE, MAX_PER_PAGE = 50, 200
# Reference tables were "migrated" in one go; all their rows share this timestamp (tests tie-breaking).
MIGRATED_AT = dt.datetime(2005, 1, 3, 8, 0, tzinfo=HR_TZ)
DATE_FIELDS = ("hire_date", "start_date", "end_date")
WRITE_SCHEMAS = {
    "key_accounts": {
        "account_no": Rule(required=True, max_length=40),
        "name": Rule(required=True, max_length=120),
        "account_manager_id": Rule(type="integer", required=True),
        "tier": Rule(required=True, choices=("gold", "platinum")),
        "annual_revenue": Rule(type="number", minimum=0),
        "country": Rule(max_length=60),
    },
    "marketing_list_members": {
        "list": Rule(required=True, max_length=60),
        "contact_no": Rule(required=True),
        "first_name": Rule(max_length=80),
        "last_name": Rule(required=True, max_length=80),
    },
}


def format_date(value: dt.date) -> str:
    return value.strftime("%d.%m.%Y")


def format_timestamp(value: dt.datetime) -> str:
    return value.astimezone(HR_TZ).isoformat(sep=" ")


def parse_since(text: str) -> dt.datetime:
    """An ISO timestamp; naive means HR local time. Accepts an unencoded '+' that arrived as ' '."""
    text = re.sub(r"(\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$", r"\1+\2", text.strip())
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=HR_TZ)


def sales_staff() -> list[dict]:
    """Chinook's staff (the demo CRM's first owners) as Sales department employees 301-308."""
    import json
    from pathlib import Path

    seed = json.loads((Path(__file__).parent / "data" / "chinook_seed.json").read_text(encoding="utf-8"))
    return [{"employee_id": 301 + i, "first_name": e["firstName"], "last_name": e["lastName"],
             "email": f"{e['firstName'][0]}{e['lastName']}".upper()[:8], "phone_number": f"011.44.1344.{4290 + i}",
             "hire_date": dt.date(2016, 3, 1) + dt.timedelta(days=30 * i), "job_id": "SA_REP", "salary": 7000 + 100 * i,
             "commission_pct": 0.1, "manager_id": 145, "department_id": 80}
            for i, e in enumerate(seed["employees"])]


class HrStore:
    """The HR tables as API records, plus the deterministic mutation used by incremental tests."""

    def __init__(self, sales_team: bool = False) -> None:
        self.lock = threading.Lock()
        tables = load_hr()
        if sales_team:
            tables["employees"] = tables["employees"] + sales_staff()
        staffed = {e["department_id"] for e in tables["employees"]}
        self.tables: dict[str, list[dict]] = {}
        self.modified: dict[str, dict[tuple, dt.datetime]] = {}
        for name, rows in tables.items():
            self.tables[name] = rows
            self.modified[name] = {self.key(name, r): self._initial_modified(name, r) for r in rows}
        for dept in tables["departments"]:
            dept["active"] = "Y" if dept["department_id"] in staffed else "N"
        for emp in tables["employees"]:
            emp["work_email"] = f"{emp['email'].lower()}@{EMAIL_DOMAIN}"
            emp["active"] = "Y"
        self.mutations = 0
        self.mutated: set[int] = set()

    @staticmethod
    def key(table: str, row: dict) -> tuple:
        return tuple(row[c] for c in PRIMARY_KEYS[table])

    @staticmethod
    def _initial_modified(table: str, row: dict) -> dt.datetime:
        if table == "employees":
            return dt.datetime.combine(row["hire_date"], dt.time(9, 0), HR_TZ)
        if table == "job_history":
            return dt.datetime.combine(row["end_date"], dt.time(17, 30), HR_TZ)
        return MIGRATED_AT

    def record(self, table: str, row: dict) -> dict:
        out = {k: format_date(v) if k in DATE_FIELDS else v for k, v in row.items()}
        out["last_modified"] = format_timestamp(self.modified[table][self.key(table, row)])
        return out

    def page(self, table: str, page: int, per_page: int, since: dt.datetime | None) -> dict:
        with self.lock:
            stamps = self.modified[table]
            rows = [r for r in self.tables[table] if since is None or stamps[self.key(table, r)] > since]
            rows.sort(key=lambda r: (stamps[self.key(table, r)], self.key(table, r)))
            chunk = [self.record(table, r) for r in rows[(page - 1) * per_page: page * per_page]]
        total = len(rows)
        meta = {"page": page, "per_page": per_page, "total": total, "total_pages": -(-total // per_page)}
        return {"data": chunk, "meta": meta}

    def mutate(self, fraction: float, seed: int, at: dt.datetime | None = None) -> dict:
        """Change salary and phone (and every second one's job) of a seeded sample of employees."""
        rng = random.Random(seed)
        with self.lock:
            employees = sorted(self.tables["employees"], key=lambda e: e["employee_id"])
            count = min(len(employees), max(int(fraction > 0), round(fraction * len(employees))))
            chosen = sorted(rng.sample(employees, count), key=lambda e: e["employee_id"])
            latest = max(max(stamps.values()) for stamps in self.modified.values())
            base = at or (latest + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0)
            job_ids = sorted(j["job_id"] for j in self.tables["jobs"])
            for i, emp in enumerate(chosen):
                emp["salary"] = emp["salary"] + 100 * rng.randint(1, 10)
                last4 = (int(emp["phone_number"][-4:]) + rng.randint(1, 9999)) % 10000  # never the same
                emp["phone_number"] = emp["phone_number"][:-4] + f"{last4:04d}"
                if i % 2 == 0:
                    emp["job_id"] = rng.choice([j for j in job_ids if j != emp["job_id"]])
                self.modified["employees"][self.key("employees", emp)] = base + dt.timedelta(seconds=i)
            self.mutations += 1
            self.mutated.update(e["employee_id"] for e in chosen)
        return {"mutated": [e["employee_id"] for e in chosen], "last_modified": format_timestamp(base)}

    def stats(self) -> dict:
        with self.lock:
            counts = {name: len(rows) for name, rows in self.tables.items()}
            return {"counts": counts, "mutations": self.mutations, "mutated_employees": len(self.mutated)}


class HrHandler(BaseHTTPRequestHandler):
    # TCP_NODELAY: headers and body go out in two writes; with Nagle on, the body's last segment waited
    # for the client's delayed ACK, ~40 ms per answer (the push benchmark measured that, not HTTP)
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"  # keep-alive: every response sets Content-Length
    server_version = "DemoHR/1.0"
    store: HrStore
    writes: WriteStore
    credentials: tuple[str, str]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature is inherited
        pass  # one stderr line per request would drown test and DAG logs

    def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"status": status, "message": message}}, headers)

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        expected_user, expected_password = self.credentials
        same_user = hmac.compare_digest(user.encode(), expected_user.encode())
        return same_user & hmac.compare_digest(password.encode(), expected_password.encode())

    def _write(self, method: str) -> bool:
        """Serve the write API (and its admin counters); False when the path is not one of its routes."""
        path = urlsplit(self.path).path
        if path == "/_admin/writes":
            self._send(200, self.writes.stats())
            return True
        if not re.fullmatch(r"/api/v1/(" + "|".join(WRITE_SCHEMAS) + r")(/[^/]+)?", path):
            return False
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if not self._authorised():
            self._error(401, "authentication required", {"WWW-Authenticate": 'Basic realm="demo-hr"'})
            return True
        status, answer, headers = route(self.writes, method, path, body, self.headers) or (404, {}, {})
        if answer is None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(status, answer, headers)
        return True

    def do_PUT(self) -> None:  # noqa: N802 - http.server naming
        self._write("PUT") or self._error(404, f"no such endpoint: {self.path}")

    def do_PATCH(self) -> None:  # noqa: N802 - http.server naming
        self._write("PATCH") or self._error(404, f"no such endpoint: {self.path}")

    def do_DELETE(self) -> None:  # noqa: N802 - http.server naming
        self._write("DELETE") or self._error(404, f"no such endpoint: {self.path}")

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self._write("GET"):
            return None
        url = urlsplit(self.path)
        if url.path == "/_admin/stats":
            return self._send(200, self.store.stats())
        match = re.fullmatch(r"/api/v1/(\w+)", url.path)
        if not match or match.group(1) not in self.store.tables:
            return self._error(404, f"no such endpoint: {url.path}")
        if not self._authorised():
            return self._error(401, "authentication required",
                               {"WWW-Authenticate": 'Basic realm="demo-hr", charset="UTF-8"'})
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            page = int(query.get("page", "1"))
            per_page = min(int(query.get("per_page", DEFAULT_PER_PAGE)), MAX_PER_PAGE)
            since = parse_since(query["modified_since"]) if "modified_since" in query else None
        except ValueError as exc:
            return self._error(400, f"bad query parameter: {exc}")
        if page < 1 or per_page < 1:
            return self._error(400, "page and per_page must be positive integers")
        self._send(200, self.store.page(match.group(1), page, per_page, since))

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        if self._write("POST"):
            return None
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        if urlsplit(self.path).path != "/_admin/mutate":
            return self._error(404, f"no such endpoint: {self.path}")
        try:
            body = orjson.loads(raw or b"{}")
            at = parse_since(body["at"]) if body.get("at") else None
            result = self.store.mutate(float(body.get("fraction", 0.05)), int(body.get("seed", 1)), at)
        except (ValueError, TypeError, AttributeError) as exc:
            return self._error(400, f"bad mutate request: {exc}")
        self._send(200, result)


def make_server(host: str = "127.0.0.1", port: int = 0, user: str = "hr", password: str = "hr-secret",
                store: str | None = None, rate: float = 0.0, sales_team: bool = False) -> ThreadingHTTPServer:
    """A ready, not yet serving, HR server; each server gets its own store and credentials."""
    hr = HrStore(sales_team)
    writes = WriteStore(WRITE_SCHEMAS, store, rate)
    employees = {e["employee_id"] for e in hr.tables["employees"]}
    writes.checks["key_accounts"] = lambda r: [] if r.get("account_manager_id") in employees else [
        {"field": "account_manager_id", "message": "is not an HR employee id"}]
    handler = type("BoundHrHandler", (HrHandler,), {"store": hr, "writes": writes, "credentials": (user, password)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--user", default=os.environ.get("DEMO_HR_USER", "hr"))
    parser.add_argument("--password", default=os.environ.get("DEMO_HR_PASSWORD", "hr-secret"))
    parser.add_argument("--store", default=None, help="SQLite file keeping written records (default: memory)")
    parser.add_argument("--rate", type=float, default=0.0, help="write requests per second (0: unlimited)")
    parser.add_argument("--sales-team", action="store_true", help="add the CRM's sales staff as employees")
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.user, args.password, args.store, args.rate, args.sales_team)
    print(f"LISTENING http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
