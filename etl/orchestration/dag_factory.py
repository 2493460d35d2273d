"""Build one `<system>_sync` DAG from `mappings/<system>/`: one task per entity file, then `summary`; and
every such DAG at once (`build_sync_dags`, what `dags/syncs.py` calls), so a new system is a folder of
YAML, no Python.

Each entity's task runs extract -> transform -> validate -> load in one process; the rows wait between
the steps in run-scoped Arrow IPC files (`etl.runfiles`), so a retry resumes where the last try
stopped. Schedules, catch-up and tags come from `_system.yml`. Every entity's task publishes an Asset
per target table so downstream DAGs can run on data instead of the clock.
"""

from __future__ import annotations

import datetime as dt
import logging

from airflow.sdk import DAG, Asset, TaskGroup, get_current_context, task

from etl.config.loader import load_system, mappings_dir
from etl.ops.notify import alert_notifier
from etl.orchestration.assets import asset_for, source_assets

__all__ = ["DEFAULT_ARGS", "asset_for", "build_dag", "build_sync_dags", "source_assets"]

log = logging.getLogger(__name__)

DEFAULT_ARGS = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=20),
    "retry_exponential_backoff": True,
    # once a task has failed for good: webhook / e-mail per the etl_alert_* connections, else a log line
    "on_failure_callback": alert_notifier(),
}


def _schedule(cfg):
    """The cron timetable, or an asset fed by a landing-folder watcher, or both (whichever comes first)."""
    sched = cfg.system.schedule
    timetable = None
    if sched.cron and any(getattr(e.source, "window", None) for e in cfg.entities.values()):
        from airflow.sdk import CronDataIntervalTimetable

        # a `window: data_interval` source reads each run's [start, end): runs need real intervals
        # (a trigger timetable's interval is empty), which backfills then replay date by date
        timetable = CronDataIntervalTimetable(sched.cron, timezone=sched.timezone)
    elif sched.cron:
        from airflow.sdk import CronTriggerTimetable

        timetable = CronTriggerTimetable(sched.cron, timezone=sched.timezone)
    if not sched.on_file:
        return timetable
    landing = landing_asset(cfg)
    if timetable is None:
        return [landing]
    from airflow.sdk import AssetOrTimeSchedule

    return AssetOrTimeSchedule(timetable=timetable, assets=[landing])


def landing_asset(cfg) -> Asset:
    """`schedule.on_file`: an Asset whose watchers fire when a matching file settles in a landing folder."""
    from airflow.sdk import AssetWatcher

    from etl.config.loader import MappingError
    from etl.orchestration.triggers import LandingFileTrigger

    system, sched = cfg.system.system, cfg.system.schedule
    folders = sorted({e.source.landing for e in cfg.entities.values() if e.source.kind == "files"})
    if not folders:
        raise MappingError(f"{cfg.folder / '_system.yml'}: schedule.on_file: no entity of {system!r} reads "
                           "files (source.kind: files), so there is no landing folder to watch")
    watchers = [
        AssetWatcher(name=f"{system}_landing_{i}",
                     trigger=LandingFileTrigger(folder=folder, pattern=sched.on_file, poll_s=sched.poll_s))
        for i, folder in enumerate(folders)
    ]
    return Asset(name=f"{system}_landing", uri=f"landing://{system}", watchers=watchers)


def _tasks():
    """Task bodies are imported when a task runs, never while the DAG file is parsed."""
    from etl.orchestration import callables

    return callables


def _entity_task(system: str, entity):
    """One task per entity: extract, transform, validate and load run in one process (`etl.steps.run_entity`).

    Four tasks per entity cost four task processes, each parsing the DAG file and importing pyarrow,
    SQLAlchemy and DuckDB again: under `airflow standalone` on 2 cores a `crm_sync` that found no new
    row took minutes, almost all of it task start-up and scheduling. The steps still hand over through
    run files, and an Airflow retry resumes after the last step that finished (`run_entity`); a retry
    after the load committed returns the committed counts and writes nothing. `max_active_tis_per_dag=1`:
    two runs never load the same table at once.
    """

    @task(task_id=entity.entity, outlets=[asset_for(entity.target)], max_active_tis_per_dag=1,
          doc_md=f"`{system}.{entity.entity}` -> `{entity.target}`: extract, transform, validate, load. "
                 + (entity.description or ""))
    def sync() -> dict:
        return _tasks().sync(system, entity.entity, get_current_context())

    return sync()


def _broken_group(entity: str, error: str):
    """A broken mapping file: one task that fails with its file:line errors (no retries), so the rest
    of the DAG, and every DAG scheduled on its assets, keeps running."""
    with TaskGroup(group_id=entity, tooltip="mapping file has errors: see the task log") as group:

        @task(task_id="config", retries=0)
        def config() -> None:
            _tasks().config_error(error)

        config()
    return group


def _broken_system_dag(system: str, error: str, doc_md: str | None) -> DAG:
    """`_system.yml` itself is broken: the DAG still appears, with one task that states the error."""
    dag = DAG(dag_id=f"{system}_sync", description=f"{system}: _system.yml has errors, see the config task",
              doc_md=doc_md, schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), catchup=False,
              max_active_runs=1, default_args=DEFAULT_ARGS, tags=["etl", system, "broken-config"])
    with dag:

        @task(task_id="config", retries=0)
        def config() -> None:
            _tasks().config_error(error)

        config()
    return dag


def _summary_task(system: str):
    """After every entity, whatever their outcome (a teardown: it never decides the run's state): the
    data-quality report and the counts table that becomes the run's note."""

    from airflow.sdk import teardown

    @teardown
    @task(task_id="summary", retries=1, on_failure_callback=None)
    def summary() -> dict:
        return _tasks().summary(system, get_current_context())

    return summary()


def build_dag(system: str, doc_md: str | None = None, schedule=None) -> DAG:
    from etl.config.loader import MappingError

    try:
        cfg = load_system(mappings_dir() / system, strict=False)
    except MappingError as exc:
        return _broken_system_dag(system, str(exc), doc_md or _BROKEN_DOC.format(system=system))
    sched = cfg.system.schedule
    dag = DAG(
        dag_id=f"{system}_sync",
        description=cfg.system.description or f"Sync {system} into the warehouse",
        doc_md=doc_md or system_doc(cfg),
        schedule=schedule if schedule is not None else _schedule(cfg),
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=sched.catchup,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["etl", system, *cfg.system.tags],
    )
    with dag:
        tasks = {name: _entity_task(system, entity) for name, entity in cfg.entities.items()}
        tasks.update({name: _broken_group(name, error) for name, error in cfg.broken.items()})
        for name, entity in cfg.entities.items():
            for dep in entity.depends_on:  # e.g. fx_rates loaded before orders are converted with them
                tasks[dep] >> tasks[name]
        list(tasks.values()) >> _summary_task(system)
    return dag


_BROKEN_DOC = """# {system}_sync

`mappings/{system}/_system.yml` has errors, so this DAG holds one `config` task that fails with them
(file, line, setting). Fix the file; the next parse of the DAG folder builds the real DAG.
"""


def system_doc(cfg) -> str:
    """The DAG's page in the UI, from `_system.yml` (`description`, then the free-form `doc`) and the
    entity files, so a system copied from presets/ documents itself without a Python file."""
    system = cfg.system
    sched = system.schedule
    when = f"`{sched.cron}` ({sched.timezone})" if sched.cron else "no clock schedule"
    if sched.on_file:
        when += f", and within seconds of a file matching `{sched.on_file}` landing"
    entities = ", ".join(f"`{name}`" for name in cfg.entities) or "none yet"
    parts = [f"# {system.system}_sync", system.description, system.doc.strip(),
             f"Entities (one YAML file each in `{cfg.folder.name}/` of the mappings folder): {entities}. "
             f"Runs: {when}.",
             "Every load writes its audit row to `etl_runs` (rows extracted / filtered / quarantined / "
             "inserted / updated / unchanged, watermark) and refused rows to `etl_quarantine`, with the reason."]
    return "\n\n".join(p for p in parts if p)


def build_sync_dags() -> dict[str, DAG]:
    """`<system>_sync` for every system folder under the mappings folder (one holding `_system.yml`;
    `models/`, `identity/` and the like are not systems), by dag_id.

    Each folder is built on its own: whatever breaks one (a broken `_system.yml`, or an error nobody
    foresaw) becomes that DAG's failing `config` task, and every other DAG is still built."""
    from airflow.sdk import get_parsing_context

    from etl.config.loader import system_folders

    root = mappings_dir()  # the tasks read the same setting when they run
    if not root.is_dir():
        raise FileNotFoundError(f"ETL_MAPPINGS_DIR={root}: no such folder, so there are no systems to sync")
    folders = system_folders(root)
    # A task starting parses this file for its own DAG only (Airflow's parsing context): build that one,
    # not every system's, so a task's start does not grow with the number of systems.
    wanted = get_parsing_context().dag_id
    folders = [f for f in folders if f"{f.name}_sync" == wanted] or folders
    dags: dict[str, DAG] = {}
    for folder in folders:
        system = folder.name
        try:
            dag = build_dag(system)
        except Exception as exc:  # isolation: one folder's surprise must not take the others down
            log.exception("building %s_sync failed", system)
            try:
                dag = _broken_system_dag(system, f"{folder}: {type(exc).__name__}: {exc}",
                                         _BROKEN_DOC.format(system=system))
            except Exception:  # e.g. a folder name Airflow refuses as a dag_id
                log.exception("skipping %s: no DAG can be built for it", folder)
                continue
        dags[dag.dag_id] = dag
    return dags

