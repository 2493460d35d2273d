"""Connections from AIRFLOW_CONN_* in both of Airflow's encodings, and what happens without one."""

from __future__ import annotations

import pytest

from etl.sources.connections import ConnectionInfo, ConnectionNotFound, get_connection, parse_connection


def test_uri_with_encoded_password_and_query_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_CRM_API", "http://svc%40corp:p%40ss%2Fw%3Ard@127.0.0.1:8000/crm?scheme=https&x=1"
    )
    conn = get_connection("crm_api")
    assert (conn.conn_type, conn.host, conn.port, conn.schema) == ("http", "127.0.0.1", 8000, "crm")
    assert (conn.login, conn.password, conn.extra) == ("svc@corp", "p@ss/w:rd", {"scheme": "https", "x": "1"})
    assert conn.base_url == "https://127.0.0.1:8000/crm"


def test_uri_with_airflow_extra_json_and_host_protocol() -> None:
    conn = parse_connection("api", "http://api.example.com/v1?__extra__=%7B%22retries%22%3A+3%7D")
    assert conn.extra == {"retries": 3}
    conn = parse_connection("api", "http://https://api.example.com/v1")
    assert conn.host == "https://api.example.com" and conn.base_url == "https://api.example.com/v1"


def test_json_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HR_API",
        '{"conn_type": "https", "host": "hr.local", "port": "8443", "login": null, '
        '"password": "tok", "extra": {"verify": false}}',
    )
    conn = get_connection("hr_api")
    assert conn == ConnectionInfo("hr_api", "https", "hr.local", 8443, None, None, "tok", {"verify": False})
    assert conn.base_url == "https://hr.local:8443"


def test_missing_connection_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NOPE_API", raising=False)
    with pytest.raises(ConnectionNotFound) as err:
        get_connection("nope_api")
    assert str(err.value).startswith(
        "connection 'nope_api' is not defined: set the environment variable AIRFLOW_CONN_NOPE_API "
        "(e.g. AIRFLOW_CONN_NOPE_API='http://:TOKEN@host:8000') or create it in Airflow"
    )


def test_invalid_value_is_explained_without_echoing_it() -> None:
    with pytest.raises(ValueError) as err:
        parse_connection("crm_api", "not a uri with s3cret")
    assert str(err.value).startswith("AIRFLOW_CONN_CRM_API is not a valid Airflow connection (URI or JSON): ")
    assert "s3cret" not in str(err.value)
    with pytest.raises(ValueError, match="AIRFLOW_CONN_CRM_API is not a valid"):
        parse_connection("crm_api", '{"host": "x", "password": "s3cret"')
    with pytest.raises(ValueError) as err:  # Airflow's own message quotes the whole URI: not ours
        parse_connection("crm_api", "http://u:s3cret@https://host://x")
    assert "s3cret" not in str(err.value) and "Invalid connection string: <value>" in str(err.value)


def test_repr_masks_the_password() -> None:
    conn = parse_connection("crm_api", "http://:demo-token@localhost:8000")
    assert "demo-token" not in repr(conn) and "demo-token" not in str(conn)
    assert "password='***'" in repr(conn)


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        ("postgresql://etl:p%40ss@db:5432/warehouse", "postgresql://etl:p%40ss@db:5432/warehouse"),
        (
            "postgres://etl:pw@db/warehouse?sslmode=disable",
            "postgresql://etl:pw@db/warehouse?sslmode=disable",
        ),
        ("sqlite:////tmp/erp.db", "sqlite:////tmp/erp.db"),
        ('{"conn_type": "sqlite", "host": "/data/erp.db"}', "sqlite:////data/erp.db"),
        ("duckdb:///relative.duckdb", "duckdb:///relative.duckdb"),
    ],
)
def test_sqlalchemy_url(uri: str, url: str) -> None:
    assert parse_connection("db", uri).sqlalchemy_url() == url
