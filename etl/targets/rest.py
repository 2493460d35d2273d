"""A REST API target: create/update by external id with idempotent PUTs, or through a batch endpoint.

Idempotence is what makes a crash harmless: every write names the record by its external id (the
sync key), so a rerun after a kill updates what the killed run already created instead of creating it
twice. Requests are paced by `rate_limit_per_s`; 429/5xx and dropped connections are retried with
exponential backoff, waiting at least what `Retry-After` asks. A 4xx about one record (422 with field
errors, 409, 404/412 in mode update) is that record's `rejected` outcome with the server's reason; a
401/403 or a server still failing after every retry is a `TargetError` that stops the run.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any
from urllib.parse import quote

import orjson
import requests

from etl.config.outbound import RestTarget
from etl.sources.connections import get_connection
from etl.sources.http import TRANSIENT_ERRORS, Credentials, _retry_after
from etl.targets.base import Outcome, Record, TargetError

log = logging.getLogger(__name__)


def dumps(payload: Any) -> bytes:
    """JSON for a payload: dates as ISO text, decimals as exact text (never a binary float)."""
    return orjson.dumps(payload, default=str)


class RateLimiter:
    """At most `per_s` calls per second across the run (a steady pace, no bursts beyond one call)."""

    def __init__(self, per_s: float | None) -> None:
        self.interval = 1.0 / per_s if per_s else 0.0
        self.next_at = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            delay = self.next_at - now
            self.next_at = max(now, self.next_at) + self.interval
        if delay > 0:
            time.sleep(delay)


def reason_of(status: int, body: Any) -> str:
    """The target's own words: '422: email: not a valid e-mail address' (field errors joined)."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        parts = [f"{e.get('field')}: {e.get('message')}" if isinstance(e, dict) else str(e) for e in errors]
        return f"{status}: " + "; ".join(parts)
    message = body.get("message") or body.get("error") if isinstance(body, dict) else None
    if isinstance(message, dict):
        message = message.get("message")
    return f"{status}: {message or 'refused by the target'}"


class RestApiTarget:
    def __init__(self, cfg: RestTarget, sleep=time.sleep) -> None:
        conn = get_connection(cfg.connection)
        self.cfg, self.sleep, self.base = cfg, sleep, conn.base_url.rstrip("/")
        self.conn_id = cfg.connection
        creds = Credentials.build(cfg.auth, conn)
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers.update({"Accept": "application/json", "Content-Type": "application/json",
                                     **creds.headers})
        self.session.auth = creds.basic
        self.params = creds.params
        self.limiter = RateLimiter(cfg.rate_limit_per_s)
        self.requests = self.retries = 0

    # ------------------------------------------------------------------------------------------ HTTP

    def _call(self, method: str, path: str, body: Any = None, headers: dict | None = None) -> tuple[int, Any]:
        """One logical request with retries; returns (status, parsed body) for any non-transient answer."""
        url, data = self.base + path, None if body is None else dumps(body)
        retry, last = self.cfg.retry, ""
        for attempt in range(1, retry.max_attempts + 1):
            self.limiter.wait()
            self.requests += 1
            try:
                resp = self.session.request(method, url, data=data, params=self.params or None,
                                            headers=headers, timeout=self.cfg.timeout_s)
            except TRANSIENT_ERRORS as exc:
                wait, last = self._backoff(attempt), f"{type(exc).__name__} from {method} {path}"
            else:
                status = resp.status_code
                if status not in retry.retry_on_status:
                    return status, _parse(resp.content)
                after = _retry_after(resp) if status in (429, 503) else None
                wait = max(after, 0.0) if after is not None else self._backoff(attempt)
                last = f"{status} from {method} {path}"
            if attempt < retry.max_attempts:
                self.retries += 1
                log.info("retry %d/%d in %.2fs: %s", attempt, retry.max_attempts - 1, wait, last)
                self.sleep(wait)
        raise TargetError(f"gave up after {retry.max_attempts} attempts; last error: {last}")

    def _backoff(self, attempt: int) -> float:
        cap = min(self.cfg.retry.max_backoff_s, self.cfg.retry.backoff_s * 2 ** (attempt - 1))
        return cap * random.random() if self.cfg.retry.jitter else cap

    def _fatal(self, status: int, body: Any, what: str) -> TargetError:
        hint = {401: f"check connection {self.conn_id}'s credentials",
                403: f"connection {self.conn_id} may not write here"}.get(status, "check target.path")
        return TargetError(f"{what}: {reason_of(status, body)} ({hint})")

    # ----------------------------------------------------------------------------------------- writes

    def _outcome(self, rec: Record, status: int, body: Any, only_existing: bool, verb: str) -> Outcome:
        if status in (200, 201, 204):
            tid = body.get(self.cfg.id_field) if isinstance(body, dict) else None
            tid = None if tid is None else str(tid)
            if verb == "delete":
                return Outcome(rec.key, "deleted", tid)
            return Outcome(rec.key, "created" if status == 201 else "updated", tid)
        if verb == "delete" and status in (404, 410):
            return Outcome(rec.key, "deleted", rec.target_id)  # already gone: the goal is reached
        if status in (401, 403) or (status == 404 and not only_existing and verb != "delete"):
            raise self._fatal(status, body, f"{verb} {self.cfg.path}")
        if status in (404, 412) and only_existing:
            return Outcome(rec.key, "rejected", reason=f"{status}: not in the target (mode update never creates)")
        return Outcome(rec.key, "rejected", reason=reason_of(status, body))

    def write(self, records: list[Record], only_existing: bool) -> list[Outcome]:
        if self.cfg.batch_path:
            return self._write_batch(records, only_existing)
        headers = {"If-Match": "*"} if only_existing else None
        out = []
        for rec in records:
            status, body = self._call("PUT", self._path(rec.key), rec.payload, headers)
            out.append(self._outcome(rec, status, body, only_existing, "write"))
        return out

    def _write_batch(self, records: list[Record], only_existing: bool) -> list[Outcome]:
        out: list[Outcome] = []
        size = self.cfg.batch_size
        for start in range(0, len(records), size):
            chunk = records[start:start + size]
            body = {"only_existing": only_existing,
                    "records": [{"external_id": r.key, **r.payload} for r in chunk]}
            status, answer = self._call("POST", self.cfg.batch_path or "", body)
            if status >= 400:
                raise self._fatal(status, answer, f"POST {self.cfg.batch_path}")
            results = answer.get("results") if isinstance(answer, dict) else None
            if not isinstance(results, list):
                raise TargetError(f"POST {self.cfg.batch_path}: the answer has no 'results' list")
            by_key = {r.key: r for r in chunk}
            for res in results:
                rec = by_key.get(str(res.get("external_id")))
                if rec is None:
                    raise TargetError(f"POST {self.cfg.batch_path}: answer names a record that was not sent")
                out.append(self._outcome(rec, int(res.get("status", 0)), res, only_existing, "write"))
        return out

    def delete(self, records: list[Record]) -> list[Outcome]:
        out = []
        for rec in records:
            if self.cfg.deactivate is not None:
                status, body = self._call("PATCH", self._path(rec.key), self.cfg.deactivate)
            else:
                status, body = self._call("DELETE", self._path(rec.key))
            out.append(self._outcome(rec, status, body, False, "delete"))
        return out

    def _path(self, key: str) -> str:
        return self.cfg.path.replace("{key}", quote(key, safe=""))

    def finish(self) -> list[Outcome]:
        return []

    def close(self) -> None:
        self.session.close()


def _parse(content: bytes) -> Any:
    try:
        return orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        return {"message": content[:200].decode("utf-8", errors="replace")}
