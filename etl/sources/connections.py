"""Airflow Connections without Airflow: where a source finds its host and its secret.

Secrets never live in the mapping YAML (STYLE §8); a source names a connection id and this module
resolves it. The environment variable `AIRFLOW_CONN_<ID>` wins, in either of Airflow's two
encodings (URI or JSON), so the same code runs in unit tests, in the benchmark and inside Airflow.
Only when the variable is absent, and only inside a process that already runs Airflow (a task), do we
ask Airflow's task SDK (`airflow.sdk.BaseHook.get_connection`).

Both encodings are parsed by Airflow's own `airflow.sdk.Connection` (`from_uri`, `from_json`: no
metadata database involved), so a value means here exactly what it means to Airflow: percent-decoded
parts, `postgresql` -> `postgres`, query parameters as `extra` unless `__extra__` carries it as JSON,
`http://https://host` keeping the inner scheme on the host. The result is copied into `ConnectionInfo`,
the typed, secret-masking view sources use. Airflow is imported only when a connection is parsed.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

_FILE_DIALECTS = {"sqlite", "duckdb"}  # the "database" is a path, not a server


class ConnectionNotFound(LookupError):
    """Neither the environment nor Airflow knows the connection id."""


@dataclass(frozen=True)
class ConnectionInfo:
    """The fields of an Airflow Connection that sources need, with the password kept out of repr."""

    conn_id: str
    conn_type: str
    host: str | None = None
    port: int | None = None
    schema: str | None = None  # Airflow's name for the path / database part
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Logged by operators' error handlers and pytest alike: the secret must never show.
        masked = "***" if self.password else None
        return (
            f"ConnectionInfo(conn_id={self.conn_id!r}, conn_type={self.conn_type!r}, host={self.host!r}, "
            f"port={self.port!r}, schema={self.schema!r}, login={self.login!r}, password={masked!r}, "
            f"extra={sorted(self.extra)!r})"
        )

    __str__ = __repr__

    @property
    def base_url(self) -> str:
        """`scheme://host[:port][/schema]`, the prefix a REST source appends its path to."""
        host = (self.host or "").rstrip("/")
        if "://" not in host:
            scheme = self.extra.get("scheme") or (
                self.conn_type if self.conn_type in ("http", "https") else "http"
            )
            host = f"{scheme}://{host}"
        url = f"{host}:{self.port}" if self.port else host
        if self.schema:
            url += "/" + self.schema.strip("/")
        return url

    def sqlalchemy_url(self) -> str:
        """The connection as a SQLAlchemy URL string, for SQL sources."""
        from sqlalchemy.engine import URL  # only SQL sources pay for the import

        dialect = {"postgres": "postgresql"}.get(self.conn_type, self.conn_type)
        if dialect in _FILE_DIALECTS:
            # Airflow keeps the file in `host` (JSON form) or in the path (URI form `sqlite:////abs.db`).
            path = self.host or self.schema or ":memory:"
            return f"{dialect}:///{path}"
        # Scalar extras become URL query options (e.g. sslmode); nested ones are Airflow-only settings.
        query = {k: str(v) for k, v in self.extra.items() if isinstance(v, str | int | float)}
        url = URL.create(
            dialect, self.login, self.password, self.host or None, self.port, self.schema or None, query
        )
        return url.render_as_string(hide_password=False)


def get_connection(conn_id: str) -> ConnectionInfo:
    """Resolve `conn_id` from `AIRFLOW_CONN_<ID>`, else from Airflow; raise ConnectionNotFound."""
    var = env_var_name(conn_id)
    value = os.environ.get(var)
    if value is not None:
        return _registered(parse_connection(conn_id, value))
    hint = (
        f"connection {conn_id!r} is not defined: set the environment variable {var} "
        f"(e.g. {var}='http://:TOKEN@host:8000') or create it in Airflow"
    )
    if "airflow" not in sys.modules:
        # Not inside an Airflow task: importing Airflow (~2 s) could only end in the same answer.
        raise ConnectionNotFound(hint)
    try:
        return _registered(_from_airflow(conn_id))
    except Exception as exc:  # Airflow raises many kinds of errors here; all mean "not here"
        raise ConnectionNotFound(f"{hint} ({type(exc).__name__}: {_first_line(exc)})") from None


def _registered(conn: ConnectionInfo) -> ConnectionInfo:
    """Tell `etl.redact` the connection's secrets, so no message it stores or logs can show them."""
    from etl.redact import SECRET_NAME, register

    register(conn.password, *(str(v) for k, v in conn.extra.items() if SECRET_NAME.search(k)))
    return conn


def env_var_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def parse_connection(conn_id: str, value: str) -> ConnectionInfo:
    """Parse an `AIRFLOW_CONN_*` value with Airflow's own rules: JSON when it starts with '{', a URI otherwise."""
    from airflow.sdk import Connection  # Airflow's parser; costs an Airflow import outside a task

    text = value.strip()
    try:
        if text.startswith("{"):
            conn = Connection.from_json(text, conn_id=conn_id)
        elif "://" not in text:  # Airflow would read anything else as a host-less connection of no type
            raise ValueError("expected '<conn_type>://[login[:password]@]host[:port][/schema][?extra]'")
        else:
            conn = Connection.from_uri(text, conn_id=conn_id)
        return _info(conn_id, conn)
    except Exception as exc:  # Airflow raises AirflowException, ValueError, JSONDecodeError, TypeError
        # The value may hold a password, so the message names the variable, never echoes the value.
        reason = _first_line(exc).replace(text, "<value>")
        raise ValueError(f"{env_var_name(conn_id)} is not a valid Airflow connection (URI or JSON): {reason}") \
            from None


def _info(conn_id: str, conn: Any) -> ConnectionInfo:
    """Airflow's Connection as the fields sources use (empty strings as None, the extra as a dict)."""
    extra = conn.extra_dejson
    if not isinstance(extra, dict):
        raise TypeError("the connection's extra must be a JSON object")
    return ConnectionInfo(
        conn_id=conn_id,
        conn_type=conn.conn_type or "http",
        host=conn.host or None,
        port=int(conn.port) if conn.port not in (None, "") else None,
        schema=conn.schema or None,
        login=conn.login,
        password=conn.password,
        extra=dict(extra),
    )


def _from_airflow(conn_id: str) -> ConnectionInfo:
    from airflow.sdk import BaseHook  # heavy; only inside an Airflow task

    return _info(conn_id, BaseHook.get_connection(conn_id))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
