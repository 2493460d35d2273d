"""Failure alerts through the notifiers, to a local webhook and a local SMTP server; log-only without
a connection; and the freshness check that alerts when an entity's data is older than declared."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace

import pytest

from tests.helpers.receivers import smtp_receiver, webhook_receiver


def _context(exc: BaseException) -> dict:
    ti = SimpleNamespace(dag_id="crm_sync", task_id="contacts", run_id="scheduled__2026-12-01",
                         try_number=1, log_url="http://localhost:8080/dags/crm_sync/runs/x/tasks/contacts")
    return {"ti": ti, "exception": exc}


def _token_refused() -> Exception:
    from etl.sources.http import HttpError

    return HttpError("GET http://:secret-token@127.0.0.1:9/crm/v3/objects/contacts -> HTTP 401: "
                     "the token was refused\ncheck the connection crm_api", 401)


@pytest.fixture
def no_alert_connections(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_ETL_ALERT_WEBHOOK", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_ETL_ALERT_SMTP", raising=False)


def test_webhook_alert_names_the_entity_and_the_reason_without_the_secret(monkeypatch, no_alert_connections):
    from etl.ops.notify import EtlAlertNotifier

    with webhook_receiver() as (host, received):
        monkeypatch.setenv("AIRFLOW_CONN_ETL_ALERT_WEBHOOK", f"http://{host}/services/T0/B0/hook")
        EtlAlertNotifier().notify(_context(_token_refused()))
    assert len(received) == 1
    post = received[0]
    assert post["path"] == "/services/T0/B0/hook" and post["content_type"] == "application/json"
    text = post["json"]["text"]
    assert text.startswith("*[etl] crm_sync failed: contacts*")
    assert "task contacts failed" in text and "HTTP 401" in text and "log: http://localhost:8080/" in text
    assert "secret-token" not in text and "://***@" in text


def test_smtp_alert_through_the_provider_notifier(monkeypatch, no_alert_connections):
    from etl.ops.notify import EtlAlertNotifier

    with smtp_receiver() as (port, messages):
        monkeypatch.setenv("AIRFLOW_CONN_ETL_ALERT_SMTP",
                           f"smtp://127.0.0.1:{port}?to=ops%40example.com%2Concall%40example.com"
                           "&from_email=etl%40example.com&disable_tls=true&disable_ssl=true&retry_limit=0")
        EtlAlertNotifier().notify(_context(RuntimeError("DataQualityError: crm.deals: 900 of 1000 rows failed")))
    assert len(messages) == 1
    sent = messages[0]
    assert sent["to"] == ["ops@example.com", "oncall@example.com"]
    assert sent["message"]["Subject"] == "[etl] crm_sync failed: contacts"
    body = sent["message"].get_payload()[0].get_payload(decode=True).decode()
    assert "900 of 1000 rows failed" in body


def test_without_a_connection_the_alert_is_a_log_line(caplog, no_alert_connections):
    from etl.ops.notify import EtlAlertNotifier

    with caplog.at_level(logging.WARNING, logger="etl.ops.notify"):
        EtlAlertNotifier().notify(_context(RuntimeError("boom")))
    assert "ALERT [etl] crm_sync failed: contacts" in caplog.text
    assert "set the Airflow connection etl_alert_webhook or etl_alert_smtp" in caplog.text


def test_a_broken_channel_is_logged_and_never_raises(monkeypatch, caplog, no_alert_connections):
    from etl.ops.notify import EtlAlertNotifier

    with webhook_receiver(status=500) as (host, received):
        monkeypatch.setenv("AIRFLOW_CONN_ETL_ALERT_WEBHOOK", f"http://{host}/hook")
        with caplog.at_level(logging.WARNING, logger="etl.ops.notify"):
            EtlAlertNotifier().notify(_context(RuntimeError("boom")))
    assert len(received) == 1
    assert "could not send the webhook alert: RuntimeError: webhook etl_alert_webhook answered HTTP 500" in caplog.text
    assert "ALERT [etl]" in caplog.text  # nothing was delivered: the log carries it


def test_freshness_flags_entities_older_than_declared(tmp_duckdb_url):
    from etl.load.audit import ensure_control_tables, finish_run, start_run
    from etl.load.warehouse import transaction
    from etl.ops.freshness import check

    start_run("r1", "crm_sync", "contacts", tmp_duckdb_url)
    with transaction(tmp_duckdb_url) as conn:
        ensure_control_tables(conn)
        finish_run(conn, "r1", "crm_sync", "contacts", dict.fromkeys(
            ("extracted", "filtered", "quarantined", "inserted", "updated", "unchanged"), 0), {})
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    fresh = {(e.pipeline, e.entity): e for e in check(tmp_duckdb_url, now).entries}
    assert not fresh[("crm_sync", "contacts")].stale  # crm declares 1h
    assert fresh[("crm_sync", "deals")].stale and fresh[("crm_sync", "deals")].last_success is None
    later = {(e.pipeline, e.entity): e for e in check(tmp_duckdb_url, now + dt.timedelta(minutes=61)).entries}
    assert later[("crm_sync", "contacts")].stale
    report = check(tmp_duckdb_url, now + dt.timedelta(minutes=61))
    assert report.summary().startswith(f"{len(report.entries)} of {len(report.entries)} entities are stale: ")
    assert "crm_sync.contacts (1h01m old, max 1h00m)" in report.summary()
