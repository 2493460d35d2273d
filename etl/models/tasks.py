"""Task bodies of the `warehouse_models` DAG: plain functions, runnable without Airflow."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def build_crosswalks() -> dict[str, int]:
    from etl.identity.crosswalk import build_crosswalks as build

    return build()


def build_models() -> dict[str, int]:
    from etl.models.build import build_models as build
    from etl.models.snapshot import publish_snapshot

    counts = build()
    log.info("models built: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    publish_snapshot(list(counts))  # DuckDB: analysts read the snapshot, never the file a load writes
    return counts


def source_assets() -> list:
    """The Asset of every staging table the mappings load (the ones `<system>_sync` publishes)."""
    from etl.config.loader import load_all
    from etl.orchestration.dag_factory import asset_for

    # lenient: a broken mapping file disables its own entity, never this DAG (its table keeps the default name)
    systems = load_all(strict=False).values()
    targets = {e.target for cfg in systems for e in cfg.entities.values()}
    targets |= {f"stg_{cfg.system.system}__{name}" for cfg in systems for name in cfg.broken}
    return [asset_for(t) for t in sorted(targets)]
