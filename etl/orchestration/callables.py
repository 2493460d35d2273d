"""What Airflow tasks call: resolve the entity and the run context from Airflow's, then run the steps.

The `python_callable`s of the generated DAGs. Kept apart from the DAG factory so the factory imports
nothing heavy at parse time; everything here is a plain function of (system, entity, context), and the
heavy modules (`etl.steps`: pyarrow, SQLAlchemy, DuckDB) are imported only by the task that needs them.
"""

from __future__ import annotations

import functools

from etl.config.loader import MappingError, load_all, load_system, mappings_dir
from etl.results import RunContext


def _permanent_errors() -> tuple[type[BaseException], ...]:
    """Failures a retry cannot fix: bad config, a refused token, failed quality, broken accounting."""
    from etl.load.warehouse import DistributedDuckDBError
    from etl.quality.suites import SuiteError
    from etl.sources.connections import ConnectionNotFound
    from etl.sources.deadline import DeadlineExceeded
    from etl.sources.http import HttpError, TlsError
    from etl.sources.pagination import PaginationError
    from etl.steps import DataQualityError, InvariantError

    return (MappingError, SuiteError, ConnectionNotFound, HttpError, PaginationError, TlsError, DeadlineExceeded,
            DataQualityError, InvariantError, DistributedDuckDBError)


def fail_fast(fn):
    """Turn permanent failures into AirflowFailException so Airflow does not retry them pointlessly."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _permanent_errors() as exc:
            from airflow.sdk.exceptions import AirflowFailException

            from etl.redact import redact

            raise AirflowFailException(redact(f"{type(exc).__name__}: {exc}")) from exc

    return wrapper


def entity_config(system: str, entity: str):
    """The entity's config; a broken file elsewhere in the system does not stop this entity."""
    cfg = load_system(mappings_dir() / system, strict=False)
    if entity in cfg.broken:
        raise MappingError(cfg.broken[entity])
    return cfg.entities[entity]


def config_error(error: str) -> None:
    """The task of a broken mapping file: fail at once, without retries, with the file:line errors."""
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(f"mapping has errors, this entity is disabled until fixed:\n{error}")


def run_context(context: dict) -> RunContext:
    """The Airflow run's id and data interval (never now()), so a backfill reads its own window."""
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return RunContext(
        run_id=context["run_id"],
        data_interval_start=start.isoformat() if start else None,
        data_interval_end=end.isoformat() if end else None,
    )


@fail_fast
def sync(system: str, entity: str, context: dict) -> dict:
    """The entity's task: the four steps in this process, resuming after the last one a previous try
    finished (`etl.steps.run_entity`); its counts go on the table's asset event."""
    from etl.steps import run_entity  # imported by the task that runs it, not by summary or models tasks

    config = entity_config(system, entity)
    result = run_entity(config, run_context(context)).as_dict()
    publish_counts(context, config.target, {**result, "run_id": context["run_id"], "entity": entity})
    return result


def publish_counts(context: dict, target: str, result: dict) -> None:
    """The load's counts and watermark on its table's asset event (`extra`), shown in the UI's asset
    views and handed to DAGs scheduled on the asset."""
    from etl.ops.runs import asset_extra
    from etl.orchestration.assets import asset_for

    events = context.get("outlet_events")
    if events is not None:
        events[asset_for(target)].extra = asset_extra(result)


def summary(system: str, context: dict) -> dict:
    """The run's summary and data-quality report; the note goes to XCom for the plugin's listener."""
    from etl.ops.run_summary import summarize
    from etl.orchestration.plugin import NOTE_KEY

    result = summarize(system, context["run_id"])
    context["ti"].xcom_push(key=NOTE_KEY, value=result["note"])
    return result


def build_crosswalks() -> dict[str, int]:
    from etl.identity.crosswalk import build_crosswalks as build

    return build()


def build_models() -> dict[str, int]:
    from etl.models.build import build_models as build
    from etl.models.snapshot import publish_snapshot

    counts = build()
    publish_snapshot(list(counts))  # DuckDB: analysts read the snapshot, never the file a load writes
    return counts


__all__ = ["sync", "load_all", "build_crosswalks", "build_models", "models_needed",
           "summary"]


def models_needed(context: dict) -> bool:
    """warehouse_models' gate: False (skip the run) when every load that triggered it changed no row."""
    import logging

    from etl.models.changes import upstream_changed

    needed = upstream_changed(context.get("triggering_asset_events"))
    if not needed:
        logging.getLogger(__name__).info("no triggering load changed a row: nothing to rebuild")
    return needed
