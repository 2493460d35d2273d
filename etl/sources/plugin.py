"""Run a source plug-in (etl.plugins.SourcePlugin) as the built-in sources run: bounded all-text Arrow
batches out, pages and records counted, the largest `cursor_field` value kept as the next watermark.

A plug-in only says how to fetch; everything a run must guarantee (the raw layer's text form, batch
sizes, the watermark's comparison as a timestamp or number, not as text) stays here, once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from etl.sources.base import ExtractStats
from etl.sources.records import CursorTracker, to_table
from etl.sources.rest import _Batcher


def iter_batches(src: Any, watermark: str | None, stats: ExtractStats, ctx: Any) -> Iterator[pa.Table]:
    from etl.plugins import SourceContext, source_plugin

    plugin, settings = source_plugin(src.kind)(), src.settings
    cursor = getattr(settings, "cursor_field", None)
    tracker = CursorTracker(cursor) if cursor else None
    batcher = _Batcher(getattr(settings, "batch_rows", 50_000))
    interval = (getattr(ctx, "data_interval_start", None), getattr(ctx, "data_interval_end", None))
    run = SourceContext(watermark=watermark, interval=interval, stats=stats)
    started = time.perf_counter()
    try:
        for page in plugin.read(settings, run):
            table = page if isinstance(page, pa.Table) else to_table(list(page))
            table = table.cast(pa.schema([(n, pa.string()) for n in table.column_names]))
            stats.pages += 1
            stats.records += table.num_rows
            stats.seconds = time.perf_counter() - started
            for batch in batcher.add(table.to_pylist()):
                yield _tracked(batch, tracker, stats)
        for batch in batcher.flush():
            yield _tracked(batch, tracker, stats)
    finally:
        run.close()
        stats.requests = sum(c.requests for c in run._clients)
        stats.retries = sum(c.retries for c in run._clients)


def _tracked(table: pa.Table, tracker: CursorTracker | None, stats: ExtractStats) -> pa.Table:
    if tracker is not None:
        stats.max_cursor = tracker.update(table)
    return table
