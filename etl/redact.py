"""Redaction: the one function that removes every credential the product knows from a message.

Messages leave the process in two ways: stored (`etl_runs.error`, `etl_push_runs.error`, push
reject reasons, quarantine reasons) and logged. Both go through `redact` here, so a secret that
reaches an error text by any road (the HTTP library quoting the full URL with an API key in its
query, an error body echoing the bearer token, a database URL in a driver's message) is masked once,
in one place, the same way.

What is known to be secret:

* literal values: the password of every connection the process resolved (`register`, called by
  `etl.sources.connections`), of every `AIRFLOW_CONN_*` variable (and secret-looking extras), the
  password of any URL held in the environment (`ETL_WAREHOUSE_URL`, `ETL_STAGING_URL`, ...), and
  environment variables whose name says secret (`*PASSWORD*`, `*TOKEN*`, `*SECRET*`, `*API_KEY*`,
  `*SALT*`), each also in its URL-encoded form;
* shapes: a URL's `user:password@`, query parameters named like credentials (`api_key=`, `token=`,
  `access_token=`, `password=`, `signature=` ...), `Authorization`-style words followed by a token
  (`Bearer x`, `Basic x`), and JSON or `key=value` pairs whose key names a credential.

Literal values shorter than MIN_SECRET characters are masked only by shape, so a three-letter
password cannot turn every occurrence of a common word into `***`.

`install_log_filter` puts `RedactingFilter` on the `etl` loggers' records (message, arguments and
traceback text) and hands the known values to Airflow's own secrets masker inside a task, so Airflow's
task log masks them in tracebacks it prints itself.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
MIN_SECRET = 6
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|API_?KEY|SALT|CREDENTIAL|PRIVATE", re.I)
_CRED_WORDS = (r"api[_-]?key|apikey|access[_-]?token|refresh[_-]?token|id[_-]?token|token|password|passwd|pwd"
               r"|secret|client[_-]?secret")
_URL_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*://[^\s:/@?#]*:)(?P<pw>[^\s@/]+)@")
_QUERY = re.compile(rf"(?P<head>[?&;](?:{_CRED_WORDS}|auth|key|signature|sig|code|session)=)(?P<v>[^&;\s#'\"<>]+)",
                    re.I)
# `Bearer <token>` (any token); `Basic|Token|Digest <value>` only when the value looks encoded, not a word.
_AUTH = re.compile(r"(?P<head>\b(?:Bearer|Zoho-oauthtoken)\s+)(?P<v>[\w.~+/=:-]{4,})"
                   r"|(?P<head2>\b(?:Basic|Token|Digest)\s+)(?P<v2>(?=\S[\w.~+/=:-]*[\dA-Z=+/])[\w.~+/=:-]{8,})")
_PAIR = re.compile(rf"(?P<head>[\"']?\b(?:{_CRED_WORDS}|authorization|x-api-key)[\"']?\s*[:=]\s*[\"']?)"
                   r"(?P<v>[^\"'\s,;&}]{3,})", re.I)

_KEEP = {MASK, "Bearer", "Basic", "Token", "Digest", "Zoho-oauthtoken"}  # a scheme word, the token follows
_registered: set[str] = set()
_lock = threading.Lock()


def register(*secrets: str | None) -> None:
    """Remember secrets this process holds (a resolved connection's password, a token)."""
    fresh = {s for s in secrets if s and len(s) >= MIN_SECRET and s not in _registered}
    if not fresh:
        return
    with _lock:
        _registered.update(fresh)
    _tell_airflow(fresh | {quote(s, safe="") for s in fresh})


def known_secrets() -> tuple[str, ...]:
    """Every literal secret known now, longest first (so a secret containing another goes first)."""
    return _with_registered(_from_env(_environ_key()), frozenset(_registered))


def _environ_key() -> tuple:
    """The environment as it is now, cheaply: the raw (bytes) items, whose hashes Python caches."""
    raw = getattr(os.environ, "_data", None)
    return tuple(raw.items()) if isinstance(raw, dict) else tuple(os.environ.items())


@lru_cache(maxsize=8)
def _with_registered(from_env: tuple[str, ...], registered: frozenset[str]) -> tuple[str, ...]:
    values = {v for s in (*from_env, *registered) for v in (s, quote(s, safe=""), quote(s)) if len(v) >= MIN_SECRET}
    return tuple(sorted(values, key=len, reverse=True))


@lru_cache(maxsize=8)
def _from_env(key: tuple) -> tuple[str, ...]:
    found: set[str] = set()
    for raw_name, raw_value in key:
        name, value = (os.fsdecode(raw_name), os.fsdecode(raw_value)) if isinstance(raw_name, bytes) \
            else (raw_name, raw_value)
        if not (name.startswith("AIRFLOW_CONN_") or SECRET_NAME.search(name) or "://" in value):
            continue
        if name.startswith("AIRFLOW_CONN_"):
            found |= _connection_secrets(value)
        elif "://" in value:
            found.add(_url_password(value) or "")
        else:  # a variable named like a secret
            found.add(value)
    return tuple(s for s in found if s and len(s) >= MIN_SECRET)


def _connection_secrets(value: str) -> set[str]:
    """The password and secret-named extras of an `AIRFLOW_CONN_*` value, URI or JSON (Airflow's two
    forms; read here without `etl.sources.connections`, which itself registers what it resolves)."""
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
            extra = data.get("extra") or {}
            extra = json.loads(extra) if isinstance(extra, str) else extra
        except (ValueError, AttributeError):
            return set()
        found = {str(data.get("password") or "")}
        return found | {str(v) for k, v in dict(extra).items() if SECRET_NAME.search(k) and isinstance(v, str | int)}
    rest = text.split("://", 1)[-1]
    rest = rest.split("://", 1)[-1] if "://" in rest else rest  # http://https://host form
    found = {_url_password("x://" + rest) or ""}
    query = urlsplit("x://" + rest).query
    return found | {unquote(v) for k, v in (p.partition("=")[::2] for p in query.split("&") if p)
                    if SECRET_NAME.search(k)}


def _url_password(value: str) -> str | None:
    try:
        password = urlsplit(value.strip()).password
    except ValueError:
        return None
    return unquote(password) if password else None


def redact(text: object) -> str:
    """`text` with every known secret and every credential-shaped value replaced by ***."""
    out = str(text)
    if not out:
        return out
    for secret in known_secrets():
        if secret in out:
            out = out.replace(secret, MASK)
    out = _URL_USERINFO.sub(lambda m: m["head"] + MASK + "@", out)
    out = _QUERY.sub(lambda m: m["head"] + MASK, out)
    out = _AUTH.sub(lambda m: (m["head"] or m["head2"]) + MASK, out)
    return _PAIR.sub(lambda m: m["head"] + (m["v"] if m["v"] in _KEEP else MASK), out)


def scrub(exc: BaseException) -> BaseException:
    """Redact an exception's text arguments in place, so whoever prints it later (Airflow's task log,
    a traceback) sees no credential; the type and the other arguments stay as they are."""
    try:
        exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
    except (AttributeError, TypeError):  # an exception type that refuses new args
        pass
    return exc


class RedactingFilter(logging.Filter):
    """Redact a record's final message and traceback text (arguments are merged into the message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: leave it to the handler to report
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()
_previous_factory = logging.getLogRecordFactory()


def _record_factory(*args, **kwargs) -> logging.LogRecord:
    record = _previous_factory(*args, **kwargs)
    name = record.name or ""  # logging.makeLogRecord makes records with no name
    if name == "etl" or name.startswith("etl."):
        _FILTER.filter(record)
    return record


def install_log_filter() -> None:
    """Every record of an `etl` logger is redacted when it is made, whichever handler prints it
    (pytest, the CLI, Airflow's task log), and loggers created later are covered too."""
    global _previous_factory
    current = logging.getLogRecordFactory()
    if current is not _record_factory:
        _previous_factory = current
        logging.setLogRecordFactory(_record_factory)
    root = logging.getLogger("etl")
    if _FILTER not in root.filters:
        root.addFilter(_FILTER)


def _tell_airflow(secrets: set[str]) -> None:
    """Inside an Airflow task, Airflow's masker hides them in what Airflow logs itself."""
    import sys

    if "airflow.sdk" not in sys.modules:
        return
    try:
        from airflow.sdk.log import mask_secret

        for secret in secrets:
            mask_secret(secret)
    except Exception:  # noqa: BLE001 - an older Airflow: our own redaction still applies
        pass
