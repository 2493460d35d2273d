"""# etl_freshness

Airflow DAG. Every hour, compares each entity's last successful load (from `etl_runs`) with the
maximum age its mapping declares (`freshness: 26h`, usually in `_system.yml` defaults). Any stale
entity fails the task, which sends the failure alert (connections `etl_alert_webhook` /
`etl_alert_smtp`, else a log line). Catches what no task failure reports: a paused DAG, a dead
scheduler or worker, a source that has not loaded for a day. Same check on the command line:
`etl freshness`.
"""

import datetime as dt

from airflow.sdk import DAG, task

from etl.orchestration.dag_factory import DEFAULT_ARGS

with DAG(
    dag_id="etl_freshness",
    description="Alert when an entity's last successful load is older than its declared freshness",
    doc_md=__doc__,
    schedule="7 * * * *",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1},
    tags=["etl", "monitoring"],
):

    @task
    def check_freshness() -> dict:
        from etl.ops.freshness_task import check_freshness as check

        return check()

    check_freshness()
