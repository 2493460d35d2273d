"""HTTP for REST sources: one keep-alive session, timeouts, retries that an operator can read.

Source APIs fail in two ways that call for opposite reactions. Transient faults (429, 5xx, a dropped
connection, a read timeout, a body cut short) are retried with exponential backoff and full jitter,
honouring `Retry-After`, because the next attempt usually works. Everything else in 4xx (bad token,
no permission, wrong path) is raised at once, with the status, the URL (secrets masked), a hint naming
the connection to fix and the start of the body: retrying would only delay the same answer. A TLS
certificate that fails verification (self-signed, expired, wrong host) is permanent too (`TlsError`):
verification is never turned off, and six retries would only fail six times.

A walk's deadline (`source.max_seconds`, see `etl.sources.deadline`) travels with each request: no
socket operation waits longer than the time left, the body is read in chunks and the read stops when
the time is up (a server trickling bytes keeps the socket alive forever otherwise), and a retry wait
that would end after the deadline (a `Retry-After` of hours) is not started: the run fails at once.

Every text taken from outside (the HTTP library's exception, which quotes the full URL with any API
key in its query; an error body echoing the token) goes through `etl.redact.redact` first.

The loop is tenacity's; what is ours is the classification (`_attempt`) and the wait (`_wait`). `sleep`
and `rand` are injectable so unit tests run the retry policy without waiting.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import requests
import tenacity
import urllib3

from etl.config.schema import Auth, Retry
from etl.redact import redact, register
from etl.sources.connections import ConnectionInfo
from etl.sources.deadline import Deadline, DeadlineExceeded, StopAtDeadline, read_body

log = logging.getLogger("etl.sources.http")

REQUEST_SETTING = "source.request_max_seconds"
MAX_RETRY_AFTER_S = 300.0  # a server asking for longer is misbehaving; don't hang the task for it
TRANSIENT_ERRORS = (
    requests.ConnectionError,  # refused, reset, dropped mid-response (RemoteDisconnected)
    requests.Timeout,  # connect and read timeouts
    requests.exceptions.ChunkedEncodingError,  # body cut short
    urllib3.exceptions.HTTPError,  # the same faults, met while reading the body ourselves
)


class HttpError(RuntimeError):
    """A response that retrying cannot fix (401, 403, 404, other 4xx)."""

    def __init__(self, message: str, status: int, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body  # the start of the response body, for rules such as source.restart_on


class TlsError(RuntimeError):
    """The server's certificate failed verification: a configuration problem, not a transient fault."""


class RetriesExhausted(RuntimeError):
    """Every attempt failed with a transient error; the message carries the last one."""


class _Transient(Exception):
    """A failure the next attempt may not meet (429, 5xx, a dropped connection, a cut body); carries
    the wait the server asked for in `Retry-After`, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Response:
    url: str  # the URL as requested, secrets masked
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON (None for an empty body)
    nbytes: int


@dataclass(frozen=True)
class Credentials:
    """What `Auth` + connection put on every request."""

    headers: dict[str, str]
    params: dict[str, str]
    basic: tuple[str, str] | None = None

    @classmethod
    def build(cls, auth: Auth, conn: ConnectionInfo) -> Credentials:
        secret = conn.password or ""
        if auth.type == "bearer":
            return cls({"Authorization": f"{auth.scheme} {secret}"}, {})
        if auth.type == "api_key" and auth.query_param:
            return cls({}, {auth.query_param: secret})
        if auth.type == "api_key":
            return cls({auth.header: secret}, {})
        if auth.type == "basic":
            return cls({}, {}, (conn.login or "", secret))
        return cls({}, {})


class HttpClient:
    """A requests.Session with the retry policy of one source; counts requests, retries and bytes."""

    def __init__(
        self,
        conn: ConnectionInfo,
        auth: Auth,
        retry: Retry,
        timeout_s: float,
        sleep: Callable[[float], Any] | None = None,
        rand: Callable[[], float] = random.random,
        headers: Mapping[str, str] | None = None,
        request_max_s: float | None = None,
    ) -> None:
        self.conn_id, self.auth_type = conn.conn_id, auth.type
        self.retry, self.timeout_s, self.rand = retry, timeout_s, rand
        self.request_max_s = request_max_s  # one request's total time (source.request_max_seconds)
        self._closed = threading.Event()
        # By default a backoff wait ends early when the client is closed (the consumer went away).
        self.sleep = sleep or self._closed.wait
        self.creds = Credentials.build(auth, conn)
        register(conn.password)  # however the connection was made, its secret is masked in messages
        self.session = requests.Session()
        # requests re-reads proxy settings from the environment on every call (13% of client CPU at
        # 100 records per page); read them once for the connection's host instead.
        self.session.trust_env = False
        self.session.proxies = requests.utils.get_environ_proxies(conn.base_url)
        self.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.session.headers.update({"Accept": "application/json", **(headers or {}), **self.creds.headers})
        self.session.auth = self.creds.basic
        self.requests = self.retries = self.bytes = 0

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        self.session.close()

    def get_json(self, url: str, params: Mapping[str, Any] | None = None, method: str = "GET",
                 deadline: Deadline | None = None) -> Response:
        """Fetch and parse one page, retrying transient failures per the source's `retry` policy.

        GET sends `params` in the query string; POST (search endpoints) sends them as a JSON body.
        `deadline` (the walk's): past it the request, its body or its retries stop with
        `DeadlineExceeded` instead of waiting.
        """
        post = method == "POST"
        query = dict(self.creds.params) if post else {**(params or {}), **self.creds.params}
        body = dict(params or {}) if post else None
        target, shown = _with_query(url, query), self.shown_url(url, query)
        attempts = self.retry.max_attempts
        late = StopAtDeadline(deadline, shown)  # why the next attempt would come too late, if it would
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),  # HttpError (permanent) goes straight out
            stop=tenacity.stop_any(tenacity.stop_after_attempt(attempts), tenacity.stop_when_event_set(self._closed),
                                   late),
            wait=self._wait,
            sleep=self._pause,
            before_sleep=self._count_retry,
        )
        try:
            return retrying(self._attempt, method, target, body, shown, deadline)
        except tenacity.RetryError as exc:
            last = exc.last_attempt.exception()
            if late.error is not None:
                raise late.error from None
            if self._closed.is_set():
                raise RetriesExhausted(f"stopped retrying {shown}: the source run was closed; last error: {last}") \
                    from None
            raise RetriesExhausted(f"gave up on {shown} after {attempts} attempts; last error: {last}") from None

    def _attempt(self, method: str, url: str, body: Any, shown: str, deadline: Deadline | None) -> Response:
        """One request: the parsed response; `_Transient` to retry; `HttpError` when retrying cannot help."""
        if deadline is not None and deadline.passed():
            raise deadline.exceeded(shown, "no time left for another request")
        self.requests += 1
        if self.request_max_s is not None:  # this request's own bound, when it ends before the walk's
            own = Deadline.after(self.request_max_s, REQUEST_SETTING)
            deadline = own if deadline is None or own.at < deadline.at else deadline
        # No single socket wait longer than the time left (connect, headers, each body read).
        timeout = self.timeout_s if deadline is None else max(min(self.timeout_s, deadline.left()), 0.01)
        try:
            # The query is already in `url`: requests' own params merging costs ~15% of its CPU.
            resp = self.session.request(method, url, json=body, timeout=timeout, stream=True)
            content = read_body(resp, deadline, shown)
        except DeadlineExceeded as exc:
            if deadline is not None and deadline.setting == REQUEST_SETTING:  # this request's own bound:
                raise _Transient(str(exc)) from None  # retried like a read timeout, the walk's time permitting
            raise
        except requests.exceptions.SSLError as exc:
            raise TlsError(
                f"TLS certificate verification failed for {shown}: {_short(exc)}; the server's certificate is "
                "not trusted (self-signed, expired or for another host). Fix the certificate, or give the CA "
                "that signed it in REQUESTS_CA_BUNDLE; verification is never turned off") from None
        except TRANSIENT_ERRORS as exc:
            if deadline is not None and deadline.setting != REQUEST_SETTING and deadline.passed():
                raise deadline.exceeded(shown, f"the request failed with {type(exc).__name__} ({_short(exc)}) "
                                               "as the walk's time ran out") from None
            raise _Transient(f"{type(exc).__name__} from {shown}: {_short(exc)}") from None
        self.bytes += len(content)
        status = resp.status_code
        if status in self.retry.retry_on_status:
            wait = _retry_after(resp, cap=None) if status in (429, 503) else None
            raise _Transient(f"{status} {resp.reason} from {shown}: {_snippet(content)!r}", wait)
        if status >= 400:
            message = f"{status} {resp.reason} from {shown}: {self._hint(status)}"
            raise HttpError(f"{message}; response body: {_snippet(content)!r}", status, _snippet(content))
        try:
            parsed = orjson.loads(content) if content else None
        except orjson.JSONDecodeError:  # a proxy's error page or a body truncated in transit
            raise _Transient(f"invalid JSON from {shown}: {_snippet(content)!r}") from None
        return Response(shown, status, resp.headers, parsed, len(content))

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """The server's `Retry-After` when it sent one (even "0"), else exponential backoff with full
        jitter (AWS architecture blog): spreads out retry storms. `rand` is injectable for tests, which
        is why the jitter is drawn here rather than by tenacity's `wait_random_exponential`."""
        asked = getattr(state.outcome.exception() if state.outcome else None, "retry_after", None)
        if asked is not None:
            return min(asked, MAX_RETRY_AFTER_S)
        cap = tenacity.wait_exponential(multiplier=self.retry.backoff_s, max=self.retry.max_backoff_s)(state)
        return cap * self.rand() if self.retry.jitter else cap

    def _pause(self, seconds: float) -> None:
        self.sleep(seconds)

    def _count_retry(self, state: tenacity.RetryCallState) -> None:
        self.retries += 1
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("retry %d/%d in %.2fs: %s", state.attempt_number, self.retry.max_attempts - 1, wait, error)

    def _hint(self, status: int) -> str:
        """What the operator should check, naming the connection that holds the credentials."""
        conn = self.conn_id
        if status == 401 and self.auth_type == "none":
            return f"the endpoint needs credentials: set source.auth and a password on connection {conn}"
        if status == 401:
            secret = {"basic": "login and password", "api_key": "password (API key)"}.get(self.auth_type)
            return f"check connection {conn}'s {secret or 'password (token)'}"
        if status == 403:
            return f"connection {conn}'s credentials are valid but not allowed to read this endpoint"
        if status == 404:
            return f"check source.path in the mapping and the host/schema of connection {conn}"
        if status >= 500:
            return "the server failed; if this is transient add the status to source.retry.retry_on_status"
        return "the server rejected the request; check source.params"

    def shown_url(self, url: str, query: Mapping[str, Any]) -> str:
        """The URL for messages, with the values of secret query parameters replaced by ***."""
        return _with_query(url, {k: "***" if k in self.creds.params else v for k, v in query.items()})


def _retry_after(resp: requests.Response, cap: float | None = MAX_RETRY_AFTER_S) -> float | None:
    """Seconds the server asked us to wait: a number ("0", "2.5") or an HTTP date; None if absent.
    Capped at `cap` (None: as asked, for the deadline's check)."""
    value = resp.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    seconds = max(seconds, 0.0)
    return seconds if cap is None else min(seconds, cap)


def _with_query(url: str, query: Mapping[str, Any]) -> str:
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode(query, doseq=True, safe='*')}"


def _snippet(content: bytes) -> str:
    return redact(content[:1200].decode("utf-8", errors="replace"))[:300]


def _short(exc: BaseException) -> str:
    return redact(str(exc).splitlines()[0])[:300] if str(exc) else type(exc).__name__
