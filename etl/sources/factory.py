"""Pick the source implementation an entity's `source.kind` names and hand back its raw batches."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from etl.config.schema import Entity
from etl.sources.rest import ExtractStats


def iter_source_batches(entity: Entity, watermark: str | None, stats: ExtractStats, ctx) -> Iterator[pa.Table]:
    """Raw batches (all text columns, as received) of one entity, newer than `watermark`."""
    from etl.config.schema import PluginSource, RestSource, SqlSource
    from etl.sources.connections import get_connection

    src = entity.source
    if isinstance(src, RestSource):
        from etl.sources.rest import iter_batches

        interval = (getattr(ctx, "data_interval_start", None), getattr(ctx, "data_interval_end", None))
        return iter_batches(src, get_connection(src.connection), watermark, stats, interval=interval)
    if isinstance(src, PluginSource):
        from etl.sources.plugin import iter_batches as plugin_batches

        return plugin_batches(src, watermark, stats, ctx)
    if isinstance(src, SqlSource):
        from etl.sources.sql import iter_batches as sql_batches

        return sql_batches(src, get_connection(src.connection), watermark, stats, ctx)
    from etl.sources.files import iter_batches as file_batches

    return file_batches(entity, watermark, stats, ctx)


class SourceHooks:
    """What a source must do when its rows are loaded. Default: nothing (REST and SQL sources keep their
    position in the watermark). File sources record each file in their ledger inside the load
    transaction, and move it out of the landing folder once that transaction has committed."""

    def in_transaction(self, conn, entity: Entity, ctx) -> None:
        return None

    def after_commit(self, entity: Entity, ctx) -> None:
        return None


def source_hooks(entity: Entity) -> SourceHooks:
    if entity.source.kind == "files":
        from etl.sources.files import FileHooks

        return FileHooks()
    return SourceHooks()


__all__ = ["ExtractStats", "SourceHooks", "iter_source_batches", "source_hooks"]
