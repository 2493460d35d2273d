"""The Airflow Assets the pipelines publish: one per warehouse table a load writes.

`<system>_sync` loads publish them (outlets); `warehouse_models` and push syncs are scheduled on them.
`warehouse_models` publishes those of the crosswalks and models it rebuilds, so a push reading
`dim_customer` or `xwalk_person` runs after they change, not only on its cron.
"""

from __future__ import annotations

from airflow.sdk import Asset


def asset_for(target: str) -> Asset:
    return Asset(name=target, uri=f"warehouse://etl/{target}")


def source_assets() -> list[Asset]:
    """The Asset of every staging table the mappings load (the ones `<system>_sync` publishes)."""
    from etl.config.loader import load_all

    # lenient: a broken mapping file disables its own entity, never this DAG (its table keeps the default name)
    systems = load_all(strict=False).values()
    targets = {e.target for cfg in systems for e in cfg.entities.values()}
    targets |= {f"stg_{cfg.system.system}__{name}" for cfg in systems for name in cfg.broken}
    return [asset_for(t) for t in sorted(targets)]


CROSSWALKS = ("xwalk_customer", "xwalk_person", "xwalk_review")


def crosswalk_assets() -> list[Asset]:
    return [asset_for(t) for t in CROSSWALKS]


def model_assets() -> list[Asset]:
    """The Asset of every core and mart table `warehouse_models` builds."""
    from etl.models.build import discover

    return [asset_for(name) for name in sorted(discover())]
