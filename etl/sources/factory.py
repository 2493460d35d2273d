"""Pick the source implementation an entity's `source.kind` names (see `etl.sources.base.Source`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from etl.config.schema import Entity, FileSource, RestSource, SqlSource
from etl.sources.base import ExtractStats, Source


@dataclass
class RestReader:
    entity: Entity
    ctx: Any = None  # the run's data interval, for request templates ({interval_start} ...)

    def batches(self, watermark: str | None, stats: ExtractStats) -> Iterator[pa.Table]:
        from etl.sources.connections import get_connection
        from etl.sources.rest import iter_batches

        src = self.entity.source
        assert isinstance(src, RestSource)
        interval = (getattr(self.ctx, "data_interval_start", None), getattr(self.ctx, "data_interval_end", None))
        return iter_batches(src, get_connection(src.connection), watermark, stats, interval=interval)


@dataclass
class SqlReader:
    entity: Entity
    ctx: Any = None  # the run's data interval, for `window: data_interval`

    def batches(self, watermark: str | None, stats: ExtractStats) -> Iterator[pa.Table]:
        from etl.sources.connections import get_connection
        from etl.sources.sql import iter_batches

        src = self.entity.source
        assert isinstance(src, SqlSource)
        return iter_batches(src, get_connection(src.connection), watermark, stats, self.ctx)


@dataclass
class FileReader:
    """`history`: file name -> checksums already loaded (the `etl_files` ledger, read by the load side)."""

    entity: Entity
    run_id: str
    history: dict[str, list[str]] = field(default_factory=dict)

    def batches(self, watermark: str | None, stats: ExtractStats) -> Iterator[pa.Table]:
        from etl.sources.files import iter_batches

        return iter_batches(self.entity, self.history, stats, self.run_id)


@dataclass
class PluginReader:
    """A source kind from an installed plug-in package (`etl.plugins`)."""

    entity: Entity
    ctx: Any = None

    def batches(self, watermark: str | None, stats: ExtractStats) -> Iterator[pa.Table]:
        from etl.sources.plugin import iter_batches

        return iter_batches(self.entity.source, watermark, stats, self.ctx)


def open_source(entity: Entity, ctx: Any, history: dict[str, list[str]] | None = None) -> Source:
    src = entity.source
    if isinstance(src, RestSource):
        return RestReader(entity, ctx)
    if isinstance(src, SqlSource):
        return SqlReader(entity, ctx)
    if isinstance(src, FileSource):
        return FileReader(entity, ctx.run_id, history or {})
    return PluginReader(entity, ctx)


__all__ = ["ExtractStats", "FileReader", "PluginReader", "RestReader", "Source", "SqlReader", "open_source"]
