"""Failure alerts through Airflow notifiers, configured by Airflow Connections, log-only otherwise.

- `etl_alert_webhook` (any HTTP(S) URL, e.g. a Slack incoming webhook
  `AIRFLOW_CONN_ETL_ALERT_WEBHOOK=https://hooks.slack.com/services/T0/B0/XYZ`): a JSON POST
  `{"text": ...}`, the shape Slack, Mattermost, Rocket.Chat and Teams workflows accept.
- `etl_alert_smtp` (an `smtp://` connection of the SMTP provider, extras `to` (comma-separated),
  `from_email`, `disable_tls`/`disable_ssl`): an e-mail through the provider's `SmtpNotifier`.

Every DAG task gets `on_failure_callback=alert_notifier()`: it runs once a task has failed for good
(not on a retry), so a refused token alerts at once (permanent errors are not retried) and a flaky
source only after its retries. With neither connection set, the alert is a WARNING in the task log.
A failing channel is logged and never hides the task's own error.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)
WEBHOOK_CONN = "etl_alert_webhook"
SMTP_CONN = "etl_alert_smtp"
_CREDENTIALS = re.compile(r"(://)[^/\s:@]*:[^/\s@]*@")  # user:password@ in a URL


def scrub(text: str) -> str:
    """No credentials in an alert: a URL's user:password becomes ***."""
    return _CREDENTIALS.sub(r"\1***@", text)


def _connection(conn_id: str):
    from etl.sources.connections import ConnectionNotFound, get_connection

    try:
        return get_connection(conn_id)
    except ConnectionNotFound:
        return None


def describe(context: dict[str, Any]) -> tuple[str, str]:
    """(subject, text) of a failed task: DAG, entity/task, run, the reason in one line, the log link."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", None) or context.get("run_id", "?")
    exc = context.get("exception")
    reason = scrub(f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc or "unknown"))
    first = reason.strip().splitlines()[0] if reason.strip() else reason
    entity = task_id.split(".")[0] if "." in task_id else task_id
    subject = f"[etl] {dag_id} failed: {entity}"
    lines = [f"{dag_id} run {run_id}: task {task_id} failed (try {getattr(ti, 'try_number', '?')})",
             f"reason: {first[:500]}"]
    url = getattr(ti, "log_url", None)
    if url:
        lines.append(f"log: {url}")
    return subject, "\n".join(lines)


class WebhookNotifier(BaseNotifier):
    """POST `{"text": ...}` (Slack-compatible JSON) to the URL of an HTTP connection."""

    template_fields = ("text",)

    def __init__(self, text: str = "", conn_id: str = WEBHOOK_CONN, timeout_s: float = 10.0):
        super().__init__()
        self.text, self.conn_id, self.timeout_s = text, conn_id, timeout_s

    def notify(self, context) -> None:
        import requests

        conn = _connection(self.conn_id)
        if conn is None:
            raise LookupError(f"connection {self.conn_id!r} is not defined")
        response = requests.post(conn.base_url, json={"text": self.text}, timeout=self.timeout_s)
        if response.status_code >= 300:  # the URL holds the webhook's secret: never log it
            raise RuntimeError(f"webhook {self.conn_id} answered HTTP {response.status_code}")


def _smtp(subject: str, text: str):
    from html import escape

    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    conn = _connection(SMTP_CONN)
    to = [a.strip() for a in str((conn.extra if conn else {}).get("to", "")).split(",") if a.strip()]
    if not to:
        raise LookupError(f"connection {SMTP_CONN!r} has no 'to' extra (comma-separated addresses)")
    html = "<pre>" + escape(text) + "</pre>"
    return SmtpNotifier(to=to, subject=subject, html_content=html, smtp_conn_id=SMTP_CONN,
                        from_email=(conn.extra if conn else {}).get("from_email"))


class EtlAlertNotifier(BaseNotifier):
    """Every configured channel, or the task log when none is configured."""

    def notify(self, context) -> None:
        subject, text = describe(context)
        sent = 0
        if _connection(WEBHOOK_CONN) is not None:
            sent += _attempt("webhook", lambda: WebhookNotifier(f"*{subject}*\n{text}").notify(context))
        if _connection(SMTP_CONN) is not None:
            sent += _attempt("e-mail", lambda: _smtp(subject, text).notify(context))
        if not sent:
            log.warning("ALERT %s\n%s\n(no alert sent: set the Airflow connection %s or %s to be notified)",
                        subject, text, WEBHOOK_CONN, SMTP_CONN)


def _attempt(channel: str, send) -> int:
    try:
        send()
    except Exception as exc:  # an alert must never mask the failure it reports
        log.error("could not send the %s alert: %s", channel, scrub(f"{type(exc).__name__}: {exc}"))
        return 0
    log.info("alert sent by %s", channel)
    return 1


def alert_notifier() -> EtlAlertNotifier:
    return EtlAlertNotifier()
