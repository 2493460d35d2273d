"""Task bodies as the DAGs call them: resolve the entity and the run context, then run one step.

Kept apart from the DAG factory so the factory imports nothing heavy at parse time.
"""

from __future__ import annotations

from etl import steps
from etl.config.loader import load_all, mappings_dir, load_system


def entity_config(system: str, entity: str):
    return load_system(mappings_dir() / system).entities[entity]


def run_context(context: dict) -> steps.RunContext:
    """The Airflow run's id and data interval (never now()), so a backfill reads its own window."""
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return steps.RunContext(
        run_id=context["run_id"],
        data_interval_start=start.isoformat() if start else None,
        data_interval_end=end.isoformat() if end else None,
    )


def extract(system: str, entity: str, context: dict) -> dict:
    return steps.extract(entity_config(system, entity), run_context(context))


def transform(system: str, entity: str, context: dict) -> dict:
    return steps.transform(entity_config(system, entity), run_context(context))


def validate(system: str, entity: str, extracted: dict, context: dict) -> dict:
    return steps.validate(entity_config(system, entity), run_context(context), extracted["extracted"])


def load(system: str, entity: str, extracted: dict, transformed: dict, validated: dict, context: dict) -> dict:
    counts = {**extracted, **transformed, **validated}
    return steps.load(entity_config(system, entity), run_context(context), counts)


__all__ = ["extract", "transform", "validate", "load", "load_all"]
