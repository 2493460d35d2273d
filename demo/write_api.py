"""The write side the demo OA and HR servers share: records by external id, as real SaaS APIs offer.

Per collection (e.g. OA `customers`, HR `key_accounts`):

- ``PUT /api/v1/<collection>/<external_id>``: create (201) or replace (200), idempotent; with
  ``If-Match: *`` only an existing record is replaced (412 otherwise);
- ``PATCH`` (merge fields, 404 if missing), ``DELETE`` (204, 404 if missing);
- ``POST /api/v1/<collection>/batch`` ``{"records": [{"external_id": ..., ...}], "only_existing": bool}``
  -> ``{"results": [{"external_id", "status", "id", "errors"}]}``, one result per record;
- ``GET /api/v1/<collection>``: every record (tests read the target's state back through it).

Validation answers 422 with ``{"errors": [{"field", "message"}]}`` naming the field (never echoing the
value); writes beyond ``rate_per_s`` get 429 with ``Retry-After``; ``GET /_admin/writes`` counts every
write request received (including refused ones), so a test can assert that a run sent nothing.
Records live in a SQLite file when ``store`` is given (a restarted demo system keeps what it was sent).
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson

MAX_BATCH = 1000


@dataclass(frozen=True)
class Rule:
    type: str = "string"  # string, integer, number, boolean
    required: bool = False
    pattern: str | None = None
    max_length: int | None = None
    choices: tuple | None = None
    minimum: float | None = None


@dataclass
class Counters:
    write_requests: int = 0
    records_written: int = 0
    rate_limited: int = 0
    by_collection: dict[str, int] = field(default_factory=dict)


_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,)}


def validate(schema: dict[str, Rule], record: dict) -> list[dict]:
    errors = []
    for name, rule in schema.items():
        value = record.get(name)
        if value is None:
            if rule.required:
                errors.append({"field": name, "message": "is required"})
            continue
        ok_type = isinstance(value, _TYPES[rule.type]) and not (rule.type != "boolean" and isinstance(value, bool))
        if not ok_type:
            errors.append({"field": name, "message": f"must be of type {rule.type}"})
        elif rule.pattern and not re.fullmatch(rule.pattern, value):
            errors.append({"field": name, "message": f"does not match the required format {rule.pattern}"})
        elif rule.max_length and len(value) > rule.max_length:
            errors.append({"field": name, "message": f"is longer than {rule.max_length} characters"})
        elif rule.choices and value not in rule.choices:
            errors.append({"field": name, "message": f"must be one of {', '.join(map(str, rule.choices))}"})
        elif rule.minimum is not None and value < rule.minimum:
            errors.append({"field": name, "message": f"must be at least {rule.minimum}"})
    errors += [{"field": k, "message": "is not a known field"} for k in record if k not in schema]
    return errors


class WriteStore:
    """Collections of records by external id, in SQLite (a file, or memory), behind one lock."""

    def __init__(self, schemas: dict[str, dict[str, Rule]], path: str | None = None,
                 rate_per_s: float = 0.0, burst: int = 20) -> None:
        self.schemas, self.lock = schemas, threading.Lock()
        self.checks: dict[str, Any] = {}  # collection -> record -> extra field errors (e.g. a reference)
        self.db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                        "collection TEXT NOT NULL, external_id TEXT NOT NULL, data TEXT NOT NULL, "
                        "UNIQUE (collection, external_id))")
        self.counters = Counters()
        self.rate_per_s, self.burst = rate_per_s, burst
        self.tokens, self.refilled = float(burst), time.monotonic()

    # -------------------------------------------------------------------------------- rate and counts

    def admit(self, collection: str) -> float | None:
        """Count one write request; None if admitted, else the seconds to wait (rate limit)."""
        with self.lock:
            self.counters.write_requests += 1
            self.counters.by_collection[collection] = self.counters.by_collection.get(collection, 0) + 1
            if not self.rate_per_s:
                return None
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate_per_s)
            self.refilled = now
            if self.tokens >= 1:
                self.tokens -= 1
                return None
            self.counters.rate_limited += 1
            return (1 - self.tokens) / self.rate_per_s

    def stats(self) -> dict:
        with self.lock:
            c = self.counters
            return {"write_requests": c.write_requests, "records_written": c.records_written,
                    "rate_limited": c.rate_limited, "by_collection": dict(c.by_collection)}

    def reset(self, rate_per_s: float | None = None) -> dict:
        with self.lock:
            self.counters = Counters()
            if rate_per_s is not None:
                self.rate_per_s, self.tokens = rate_per_s, float(self.burst)
        return self.stats()

    # ----------------------------------------------------------------------------------------- records

    def _get(self, collection: str, ext: str) -> tuple[int, dict] | None:
        row = self.db.execute("SELECT id, data FROM records WHERE collection = ? AND external_id = ?",
                              (collection, ext)).fetchone()
        return (row[0], orjson.loads(row[1])) if row else None

    def put(self, collection: str, ext: str, data: dict, only_existing: bool = False) -> tuple[int, dict]:
        """(status, body) of one PUT; call with the lock held (the batch endpoint holds it once)."""
        errors = validate(self.schemas[collection], data)
        if not errors and collection in self.checks:
            errors = self.checks[collection](data)
        if errors:
            return 422, {"external_id": ext, "errors": errors}
        old = self._get(collection, ext)
        if old is None and only_existing:
            return 412, {"external_id": ext, "message": "no such record (If-Match: * only replaces)"}
        self.counters.records_written += 1
        blob = orjson.dumps(data).decode()
        if old is None:
            cur = self.db.execute("INSERT INTO records (collection, external_id, data) VALUES (?, ?, ?)",
                                  (collection, ext, blob))
            return 201, {"id": cur.lastrowid, "external_id": ext}
        self.db.execute("UPDATE records SET data = ? WHERE id = ?", (blob, old[0]))
        return 200, {"id": old[0], "external_id": ext}

    def patch(self, collection: str, ext: str, data: dict) -> tuple[int, dict]:
        old = self._get(collection, ext)
        if old is None:
            return 404, {"message": "no such record"}
        return self.put(collection, ext, {**old[1], **data})

    def delete(self, collection: str, ext: str) -> tuple[int, dict | None]:
        cur = self.db.execute("DELETE FROM records WHERE collection = ? AND external_id = ?", (collection, ext))
        if cur.rowcount:
            self.counters.records_written += 1
            return 204, None
        return 404, {"message": "no such record"}

    def batch(self, collection: str, body: Any) -> tuple[int, dict]:
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            return 400, {"message": "body must be {\"records\": [...]}"}
        if len(records) > MAX_BATCH:
            return 413, {"message": f"at most {MAX_BATCH} records per batch"}
        results = []
        self.db.execute("BEGIN")
        try:
            for rec in records:
                data = dict(rec) if isinstance(rec, dict) else {}
                ext = str(data.pop("external_id", "") or "")
                if not ext:
                    results.append({"external_id": None, "status": 422,
                                    "errors": [{"field": "external_id", "message": "is required"}]})
                    continue
                status, answer = self.put(collection, ext, data, bool(body.get("only_existing")))
                results.append({**answer, "status": status})
        finally:
            self.db.execute("COMMIT")
        return 200, {"results": results}

    def list(self, collection: str) -> dict:
        rows = self.db.execute("SELECT id, external_id, data FROM records WHERE collection = ? ORDER BY id",
                               (collection,)).fetchall()
        return {"data": [{"id": i, "external_id": e, **orjson.loads(d)} for i, e, d in rows]}


def route(store: WriteStore, method: str, path: str, body: bytes, headers) -> tuple[int, Any, dict] | None:
    """Serve a write-API request; None when the path is not a write collection (the caller's own routes)."""
    match = re.fullmatch(r"/api/v1/(\w+)(?:/([^/]+))?", path)
    if not match or match.group(1) not in store.schemas:
        return None
    collection, ext = match.group(1), unquote(match.group(2)) if match.group(2) else None
    if method == "GET":
        return (200, store.list(collection), {}) if ext is None else (405, {"message": "GET lists only"}, {})
    wait = store.admit(collection)
    if wait is not None:
        return 429, {"message": "rate limit exceeded"}, {"Retry-After": str(max(1, math.ceil(wait)))}
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return 400, {"message": "body is not JSON"}, {}
    with store.lock:
        if method == "POST" and ext == "batch":
            status, answer = store.batch(collection, data)
        elif ext is None or method not in ("PUT", "PATCH", "DELETE"):
            return 405, {"message": f"{method} needs /api/v1/{collection}/<external_id>"}, {}
        elif method == "DELETE":
            status, answer = store.delete(collection, ext)
        elif not isinstance(data, dict):
            return 400, {"message": "body must be a JSON object"}, {}
        elif method == "PATCH":
            status, answer = store.patch(collection, ext, data)
        else:
            only = headers.get("If-Match", "").strip() == "*"
            status, answer = store.put(collection, ext, data, only)
    return status, answer, {}
