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
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from etl.config.schema import RestSource
from etl.sources.base import ExtractStats
from etl.sources.connections import ConnectionInfo
from etl.sources.deadline import Deadline
from etl.sources.http import HttpClient, HttpError
from etl.sources.pagination import Bounds
from etl.sources.paginators import make_paginator
from etl.sources.records import CursorTracker, get_path, to_table, try_sort_key
from etl.sources.templating import render
from etl.sources.walk import iter_pages
from etl.state import EPOCH, format_moment, parse_moment, watermark_moment, watermark_param

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
    interval: tuple[str | None, str | None] = (None, None),
) -> Iterator[pa.Table]:
    """Yield the source's records as Tables of `cfg.batch_rows` rows (the last one shorter).

    `stats` is filled in as pages arrive, so a caller sees how far a failed run got. `sleep` replaces
    the backoff wait (tests); `prefetch` fetches the next page while the current one is converted;
    `interval` is the run's data interval (ISO), for `{interval_start}` / `{interval_end}` templates.
    """
    started = time.perf_counter()
    tracker = CursorTracker(cfg.incremental.cursor_field) if cfg.incremental else None
    batcher = _Batcher(cfg.batch_rows)
    moments = _moments(cfg, watermark, interval)
    with HttpClient(conn, cfg.auth, cfg.retry, cfg.timeout_s, sleep=sleep,
                    request_max_s=cfg.request_max_seconds) as client:
        for number, records in _walk(cfg, conn, client, moments, prefetch, stats):
            _count(stats, client, number, len(records), started)
            for table in batcher.add(records):
                yield _tracked(table, tracker, stats)
            if number % LOG_EVERY_PAGES == 0:
                _log_progress(conn.conn_id, cfg.path, stats)
        for table in batcher.flush():
            yield _tracked(table, tracker, stats)
        _count(stats, client, stats.pages, 0, started)
    _log_progress(conn.conn_id, cfg.path, stats, final=True)


def _walk(cfg: RestSource, conn: ConnectionInfo, client: HttpClient, moments: dict[str, datetime | None],
          prefetch: bool, stats: ExtractStats) -> Iterator[tuple[int, list[Any]]]:
    """(page number over the whole run, records) of every page; with `restart_on`, an expired server
    cursor restarts the query from the highest cursor value received, dropping what was already sent."""
    resume = _Resume(cfg) if cfg.restart_on else None
    done_pages = 0
    # One deadline for the whole walk, restarts included; every request and retry wait is held to it.
    bounds = Bounds(cfg.page_limit, cfg.max_seconds, cfg.max_empty_pages, Deadline.after(cfg.max_seconds))
    while True:
        request = render({"path": cfg.path, "headers": cfg.headers}, _filled(moments))
        client.session.headers.update(request["headers"])
        url = _endpoint(conn.base_url, request["path"])
        pager = make_paginator(cfg.paginator, url, _params(cfg, moments), cfg.page_size, bounds)
        try:
            for page in iter_pages(client, pager, cfg.records_path, cfg.method, prefetch):
                stats.total = pager.total_records
                yield done_pages + page.number, resume.admit(page.records) if resume else page.records
            return
        except HttpError as exc:
            if resume is None or not resume.matches(exc):
                raise
            done_pages += pager.pages - 1  # the failed request fetched no page
            moments = {**moments, "watermark": resume.restart(exc, cfg)}
            stats.restarts += 1
            log.warning("%s %s: server cursor expired (%s); restart %d from %s=%s", conn.conn_id, cfg.path,
                        exc.status, stats.restarts, cfg.incremental.cursor_field if cfg.incremental else "",
                        resume.text)


class _Resume:
    """What `restart_on` needs: the highest cursor received and the records already sent at it.

    The restarted query asks for cursor >= that value (write the filter with >=, and sort by the
    cursor), so records sharing it arrive again; those already sent are dropped by their exact JSON,
    so a record changed in between (new cursor, new content) still comes through: no loss, no duplicate.
    Only a believable cursor can become the restart point: one that is not a time, or lies beyond the
    run's clock plus `incremental.clock_skew_s`, would restart the query past every record not yet read
    (the quality step quarantines such a record; here it is passed on and ignored).
    """

    def __init__(self, cfg: RestSource) -> None:
        assert cfg.restart_on is not None and cfg.incremental is not None
        self.rule, self.field = cfg.restart_on, cfg.incremental.cursor_field
        self.latest = datetime.now(UTC) + timedelta(seconds=cfg.incremental.clock_skew_s)
        self.key: tuple[int, Any] | None = None
        self.text: str | None = None
        self.seen: set[bytes] = set()
        self.restarts = 0

    def matches(self, exc: HttpError) -> bool:
        if self.rule.status and exc.status not in self.rule.status:
            return False
        return self.rule.body_contains is None or self.rule.body_contains in exc.body

    def restart(self, exc: HttpError, cfg: RestSource) -> datetime | None:
        self.restarts += 1
        if self.restarts > self.rule.max_restarts:
            raise HttpError(f"{exc} (gave up after source.restart_on.max_restarts={self.rule.max_restarts} "
                            "restarts of the query)", exc.status, exc.body) from exc
        return parse_moment(self.text) if self.text is not None else None

    def admit(self, records: list[Any]) -> list[Any]:
        out = []
        for record in records:
            value = get_path(record, self.field)
            if value is None:
                out.append(record)
                continue
            key = self._believable(str(value))
            if key is None:
                out.append(record)
                continue
            fp = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
            if self.restarts and key == self.key and fp in self.seen:
                continue  # sent before the restart
            if self.key is None or key > self.key:
                self.key, self.text, self.seen = key, str(value), {fp}
            elif key == self.key:
                self.seen.add(fp)
            out.append(record)
        return out

    def _believable(self, text: str) -> tuple[int, Any] | None:
        key = try_sort_key(text)
        if key is None:
            return None
        try:
            return key if parse_moment(text) <= self.latest else None
        except (ValueError, OverflowError):
            return None


def _moments(cfg: RestSource, watermark: str | None,
             interval: tuple[str | None, str | None]) -> dict[str, datetime | None]:
    start, end = interval
    return {"watermark": watermark_moment(cfg.incremental, watermark) if cfg.incremental else None,
            "interval_start": parse_moment(start) if start else None,
            "interval_end": parse_moment(end) if end else None}


def _filled(moments: dict[str, datetime | None]) -> dict[str, datetime | None]:
    """No watermark yet: templates read from the epoch start (everything)."""
    return {**moments, "watermark": moments["watermark"] or EPOCH}


def _params(cfg: RestSource, moments: dict[str, datetime | None]) -> dict[str, Any]:
    params: dict[str, Any] = {k: _param_text(v) for k, v in render(cfg.params, _filled(moments)).items()}
    if cfg.body is not None:  # POST search: the body template, then paging keys (added by the paginator)
        params = {**render(cfg.body, _filled(moments)), **params}
    if cfg.page_size_param:
        params[cfg.page_size_param] = cfg.page_size
    if cfg.incremental and cfg.incremental.param and moments["watermark"] is not None:
        params[cfg.incremental.param] = format_moment(moments["watermark"], cfg.incremental.param_format)
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
