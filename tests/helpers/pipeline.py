"""Run a system's entities in-process, in dependency order, as the DAG would."""

from __future__ import annotations

from etl.config.loader import load_system, mappings_dir
from etl.steps import RunContext, run_entity


def sync_system(system: str, url: str, run_id: str, only: tuple[str, ...] | None = None) -> dict:
    entities = load_system(mappings_dir() / system).entities
    return {name: run_entity(e, RunContext(run_id=run_id, warehouse_url=url))
            for name, e in entities.items() if only is None or name in only}
