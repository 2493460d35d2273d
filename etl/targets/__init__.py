"""Outbound targets (REST API, SQL table, files): the mirror of `etl.sources`. See `base` for the protocol."""

from __future__ import annotations

from etl.config.outbound import Sync
from etl.targets.base import Target


def open_target(sync: Sync, run_id: str) -> Target:
    """The target a sync writes to; imports only the kind it needs."""
    from etl.config.outbound import PluginTarget

    cfg = sync.target
    if isinstance(cfg, PluginTarget):  # an installed plug-in's kind (etl.plugins, group etl.targets)
        from etl.plugins import target_plugin

        return target_plugin(cfg.kind)().open(cfg.settings, sync, run_id)  # type: ignore[no-any-return]
    if cfg.kind == "rest":
        from etl.targets.rest import RestApiTarget

        return RestApiTarget(cfg)
    if cfg.kind == "sql":
        from etl.targets.sql import SqlTableTarget

        return SqlTableTarget(cfg)
    from etl.targets.files import FileDropTarget

    return FileDropTarget(cfg, sync.sync, run_id)
