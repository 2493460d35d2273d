"""The generic REST source: a mapping's `source:` block in, bounded all-string Arrow batches out.

Everything specific to one API lives in its YAML (`RestSource`): path, params, auth style, paginator,
incremental cursor. This module wires the parts (`http` for requests and retries, `pagination` for
the walk, `records` for JSON → Arrow) and adds what only the whole run knows: the watermark
parameter, the largest cursor seen, batch boundaries, statistics and progress logs.

Incremental reads trust the server's filter: every record the server returns is passed on, even one
older than the watermark (with `lag_s` that is expected). Dropping rows here would hide a server bug
and make a re-read impossible; the merge on the primary key makes re-reads harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from etl.config.schema import RestSource
from etl.sources.base import ExtractStats
from etl.sources.connections import ConnectionInfo
from etl.sources.http import HttpClient
from etl.sources.pagination import iter_pages, make_paginator
from etl.sources.records import CursorTracker, to_table
from etl.state import format_moment, watermark_param

log = logging.getLogger("etl.sources.rest")

CONVERT_ROWS = 2_000  # records parsed per Arrow conversion: large enough to amortise, small enough for cache
LOG_EVERY_PAGES = 10
__all__ = ["ExtractStats", "format_moment", "iter_batches", "watermark_param"]


def iter_batches(
    cfg: RestSource,
    conn: ConnectionInfo,
    watermark: str | None,
    stats: ExtractStats,
    *,
    sleep: Callable[[float], Any] | None = None,
    prefetch: bool = True,
) -> Iterator[pa.Table]:
    """Yield the source's records as Tables of `cfg.batch_rows` rows (the last one shorter).

    `stats` is filled in as pages arrive, so a caller sees how far a failed run got. `sleep` replaces
    the backoff wait (tests); `prefetch` fetches the next page while the current one is converted.
    """
    started = time.perf_counter()
    url = _endpoint(conn.base_url, cfg.path)
    tracker = CursorTracker(cfg.incremental.cursor_field) if cfg.incremental else None
    batcher = _Batcher(cfg.batch_rows)
    with HttpClient(conn, cfg.auth, cfg.retry, cfg.timeout_s, sleep=sleep) as client:
        pager = make_paginator(cfg.paginator, url, _params(cfg, watermark), cfg.page_size, cfg.max_pages)
        for page in iter_pages(client, pager, cfg.records_path, cfg.method, prefetch):
            _count(stats, client, page.number, len(page.records), started)
            for table in batcher.add(page.records):
                yield _tracked(table, tracker, stats)
            if page.number % LOG_EVERY_PAGES == 0:
                _log_progress(conn.conn_id, cfg.path, stats)
        for table in batcher.flush():
            yield _tracked(table, tracker, stats)
        _count(stats, client, stats.pages, 0, started)
    _log_progress(conn.conn_id, cfg.path, stats, final=True)


def _params(cfg: RestSource, watermark: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {k: _param_text(v) for k, v in cfg.params.items()}
    if cfg.page_size_param:
        params[cfg.page_size_param] = cfg.page_size
    if cfg.incremental and cfg.incremental.param:
        value = watermark_param(cfg.incremental, watermark)
        if value is not None:
            params[cfg.incremental.param] = value
    return params


def _param_text(value: Any) -> Any:
    # YAML `true` must reach the server as JSON's `true`, not Python's `True`.
    return ("true" if value else "false") if isinstance(value, bool) else value


def _endpoint(base_url: str, path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def _count(stats: ExtractStats, client: HttpClient, pages: int, records: int, started: float) -> None:
    stats.pages = pages
    stats.records += records
    stats.requests, stats.retries, stats.bytes = client.requests, client.retries, client.bytes
    stats.seconds = time.perf_counter() - started


def _tracked(table: pa.Table, tracker: CursorTracker | None, stats: ExtractStats) -> pa.Table:
    if tracker is not None:
        stats.max_cursor = tracker.update(table)
    return table


def _log_progress(conn_id: str, path: str, stats: ExtractStats, final: bool = False) -> None:
    rate = stats.records / stats.seconds if stats.seconds else 0.0
    log.info(
        "%s %s%s: %d pages, %d records, %d retries, %.1fs, %.0f rows/s, max_cursor=%s",
        conn_id,
        path,
        " done" if final else "",
        stats.pages,
        stats.records,
        stats.retries,
        stats.seconds,
        rate,
        stats.max_cursor,
    )


class _Batcher:
    """Collects records into Tables of exactly `batch_rows` rows.

    Records are converted to Arrow every CONVERT_ROWS, so at most that many Python dicts (plus the
    page being added) are alive next to the Arrow batch being filled.
    """

    def __init__(self, batch_rows: int) -> None:
        self.batch_rows = batch_rows
        self.convert_rows = min(CONVERT_ROWS, batch_rows)
        self.pending: list[Any] = []
        self.tables: list[pa.Table] = []
        self.rows = 0

    def add(self, records: list[Any]) -> Iterator[pa.Table]:
        self.pending.extend(records)
        if len(self.pending) >= self.convert_rows:
            self._convert()
        while self.rows >= self.batch_rows:
            yield self._take(self.batch_rows)

    def flush(self) -> Iterator[pa.Table]:
        self._convert()
        while self.rows:
            yield self._take(min(self.rows, self.batch_rows))

    def _convert(self) -> None:
        if self.pending:
            table = to_table(self.pending)
            self.pending = []
            self.tables.append(table)
            self.rows += table.num_rows

    def _take(self, n: int) -> pa.Table:
        tables = self.tables
        whole = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
        rest = whole.slice(n)
        self.tables, self.rows = ([rest] if rest.num_rows else []), rest.num_rows
        return whole.slice(0, n)
