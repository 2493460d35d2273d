"""Build one `push_<sync>` DAG per outbound sync file (`mappings/<system>/outbound/<sync>.yml`).

Each DAG is a single task that runs the sync (plan, deliver, account: `etl.push.run`). It runs on its
cron in the target's time zone AND whenever an inbound load publishes the Asset of a table it reads
(`warehouse://etl/<table>`), whichever comes first; never two runs of one sync at once. Trigger it with
`{"dry_run": true}` to see what would be sent without sending it.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator

from airflow.sdk import DAG, Param, get_current_context, task

from etl.orchestration.dag_factory import DEFAULT_ARGS, asset_for


def _schedule(sync):
    sched = sync.schedule
    timetable = None
    if sched.cron:
        from airflow.sdk import CronTriggerTimetable

        timetable = CronTriggerTimetable(sched.cron, timezone=sched.timezone)
    assets = [asset_for(t) for t in sync.reads] if sched.on_assets else []
    if not assets:
        return timetable
    any_asset = functools.reduce(operator.or_, assets)
    if timetable is None:
        return any_asset
    from airflow.sdk import AssetOrTimeSchedule

    return AssetOrTimeSchedule(timetable=timetable, assets=any_asset)


def build_push_dag(sync) -> DAG:
    target = sync.target
    where = getattr(target, "path", None) or getattr(target, "table", None) or getattr(target, "folder", "")
    doc = (f"# {sync.dag_id}\n\nOutbound sync `{sync.sync}` into **{sync.system}** ({target.kind}: `{where}`), "
           f"mode `{sync.mode}`.\n\n{sync.description}\n\nReads: {', '.join(sync.reads)}. Audit: "
           "`etl_push_runs`; refused records: `etl_push_rejects`; state: `etl_push_state`.\n\n" + (__doc__ or ""))
    dag = DAG(
        dag_id=sync.dag_id,
        description=(sync.description or f"Push {sync.sync} into {sync.system}")[:200],
        doc_md=doc,
        schedule=_schedule(sync),
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        params={"dry_run": Param(False, type="boolean", description="plan only: count and sample, send nothing")},
        tags=["etl", "push", sync.system, *sync.tags],
    )
    name = sync.sync
    with dag:

        @task(task_id="push", max_active_tis_per_dag=1)
        def push() -> dict:
            from etl.push.tasks import run_sync

            context = get_current_context()
            return run_sync(name, context["run_id"], bool(context["params"].get("dry_run")))

        push()
    return dag


def build_push_dags() -> dict[str, DAG]:
    """Every sync's DAG by dag_id (a broken sync file raises: its file:line errors are the import error)."""
    from etl.config.outbound import load_syncs

    return {sync.dag_id: build_push_dag(sync) for sync in load_syncs().values()}
