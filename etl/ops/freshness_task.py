"""The body of the `etl_freshness` DAG's task: fail (and so alert) when any entity is stale."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def check_freshness() -> dict:
    from airflow.sdk.exceptions import AirflowFailException

    from etl.ops.freshness import check

    report = check()
    for line in report.lines():
        log.info("%s", line)
    if report.stale:
        raise AirflowFailException(report.summary())
    return {"entities": len(report.entries), "stale": 0}
