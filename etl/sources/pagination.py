"""Pagination styles of real REST APIs, as small strategies behind one loop guard.

Each style says only how to ask for the first page and how to derive the next request from a page it
has seen; `Paginator` (the base) does what they share: it counts pages, stops a runaway walk at
`max_pages`, and refuses to request a cursor, URL, page or offset it has already requested, because a
server that hands back the same cursor would otherwise be read forever (and its rows loaded twice).
`iter_pages` walks a paginator with an `HttpClient`, optionally fetching page n+1 in a background
thread while the caller converts page n.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import orjson
from requests.utils import parse_header_links

from etl.config.schema import Paginator as PaginatorConfig
from etl.sources.http import HttpClient, Response
from etl.sources.records import get_path, records_at


class PaginationError(RuntimeError):
    """The walk would loop or exceed max_pages; fail loudly rather than read forever."""


@dataclass(frozen=True)
class PageRequest:
    url: str
    params: dict[str, Any]
    token: Any  # what identifies this request for loop detection (cursor, URL, page, offset)


@dataclass(frozen=True)
class Page:
    number: int  # 1-based count of pages fetched
    response: Response
    records: list[Any]


class Paginator:
    """The shared part: page count, max_pages and loop detection. Subclasses implement `_next`."""

    kind = "request"  # how messages name the token ("cursor", "page", ...)

    def __init__(
        self, cfg: PaginatorConfig, url: str, params: dict[str, Any], page_size: int, max_pages: int
    ) -> None:
        self.cfg, self.url, self.params = cfg, url, params
        self.page_size, self.max_pages = page_size, max_pages
        self.pages = 0
        self.total_records: int | None = None  # when the server reports a total (progress shows an ETA)
        self._seen: dict[Any, int] = {}  # token -> page number that requested it
        self._last_page: tuple[int, bytes] | None = None

    def first_request(self) -> PageRequest:
        return self._checked(self._first())

    def next_request(self, response: Response, records: list[Any]) -> PageRequest | None:
        """The request for the page after this one, or None when the walk is complete."""
        nxt = self._next(response, records)
        return None if nxt is None else self._checked(nxt)

    def _first(self) -> PageRequest:
        return PageRequest(self.url, dict(self.params), None)

    def _next(self, response: Response, records: list[Any]) -> PageRequest | None:
        raise NotImplementedError

    def _repeats_last_page(self, records: list[Any]) -> bool:
        """Same records as the page before: a server ignoring our page/offset parameter."""
        mark = (len(records), orjson.dumps([records[0], records[-1]]) if records else b"")
        same, self._last_page = mark == self._last_page, mark
        return same

    def _checked(self, req: PageRequest) -> PageRequest:
        if req.token is not None and req.token in self._seen:
            raise PaginationError(
                f"{self.url}: pagination loop after {self.pages} pages: the server sent {self.kind} "
                f"{req.token!r} again (first requested for page {self._seen[req.token]})"
            )
        if self.pages >= self.max_pages:
            raise PaginationError(
                f"{self.url}: more than max_pages={self.max_pages} pages (next {self.kind} {req.token!r}); "
                "raise source.max_pages in the mapping if the data really is this large"
            )
        self.pages += 1
        if req.token is not None:
            self._seen[req.token] = self.pages
        return req


class SinglePaginator(Paginator):
    def _next(self, response: Response, records: list[Any]) -> PageRequest | None:
        return None


class JsonCursorPaginator(Paginator):
    kind = "cursor"

    def _next(self, response: Response, records: list[Any]) -> PageRequest | None:
        cursor = get_path(response.body, self.cfg.cursor_path)
        if cursor in (None, ""):
            return None
        return PageRequest(self.url, {**self.params, self.cfg.cursor_param: cursor}, str(cursor))


class NextUrlPaginator(Paginator):
    kind = "next URL"

    def _next(self, response: Response, records: list[Any]) -> PageRequest | None:
        link = get_path(response.body, self.cfg.next_url_path)
        # The next URL carries every parameter already; resolve it in case it is relative.
        return PageRequest(urljoin(self.url, link), {}, link) if link else None


class LinkHeaderPaginator(Paginator):
    kind = "next link"

    def _next(self, response: Response, records: list[Any]) -> PageRequest | None:
        header = response.headers.get("Link", "")
        links = parse_header_links(header) if header else []
        link = next((lk["url"] for lk in links if "next" in lk.get("rel", "").split()), None)
        return PageRequest(urljoin(self.url, link), {}, link) if link else None


class PageNumberPaginator(Paginator):
    kind = "page"

    def _first(self) -> PageRequest:
        self.page = self.cfg.start_page
        return PageRequest(self.url, {**self.params, self.cfg.page_param: self.page}, self.page)

    def _next(self, response: Response, records: list[Any]) -> PageRequest | None:
        total = _number_at(response.body, self.cfg.total_pages_path)
        if total is not None and self.total_records is None:  # an estimate: the last page may be short
            self.total_records = int(total) * max(len(records), 1)
        if records and self._repeats_last_page(records):
            raise PaginationError(
                f"{self.url}: pagination loop after {self.pages} pages: page {self.page} returned the same "
                f"records as page {self.page - 1}; does the server honour '{self.cfg.page_param}'?"
            )
        if not records or (total is not None and self.page - self.cfg.start_page + 1 >= total):
            return None
        if _says_no_more(response.body, self.cfg.has_more_path):
            return None
        self.page += 1
        return PageRequest(self.url, {**self.params, self.cfg.page_param: self.page}, self.page)


class OffsetPaginator(Paginator):
    kind = "offset"

    def _first(self) -> PageRequest:
        self.offset = 0
        return PageRequest(self.url, {**self.params, self.cfg.offset_param: 0}, 0)

    def _next(self, response: Response, records: list[Any]) -> PageRequest | None:
        total = _number_at(response.body, self.cfg.total_path)
        if total is not None:
            self.total_records = int(total)
        if records and self._repeats_last_page(records):
            raise PaginationError(
                f"{self.url}: pagination loop after {self.pages} pages: offset {self.offset} returned the "
                f"same records as the page before; does the server honour '{self.cfg.offset_param}'?"
            )
        # A short page ends the walk only without a total: servers that cap the page size below
        # the one we asked for would otherwise stop us after the first page.
        if not records or _says_no_more(response.body, self.cfg.has_more_path):
            return None
        if total is None and self.cfg.has_more_path is None and len(records) < self.page_size:
            return None
        self.offset += len(records)
        if total is not None and self.offset >= total:
            return None
        return PageRequest(self.url, {**self.params, self.cfg.offset_param: self.offset}, self.offset)


STYLES: dict[str, type[Paginator]] = {
    "single": SinglePaginator,
    "json_cursor": JsonCursorPaginator,
    "next_url": NextUrlPaginator,
    "link_header": LinkHeaderPaginator,
    "page_number": PageNumberPaginator,
    "offset": OffsetPaginator,
}


def make_paginator(
    cfg: PaginatorConfig, url: str, params: dict[str, Any], page_size: int, max_pages: int
) -> Paginator:
    return STYLES[cfg.type](cfg, url, params, page_size, max_pages)


def _says_no_more(body: Any, path: str | None) -> bool:
    """`has_more_path` holds false (Zoho `info.more_records`, Pipedrive `more_items_in_collection`)."""
    return path is not None and get_path(body, path) in (False, "false", None)


def _number_at(body: Any, path: str | None) -> float | None:
    value = get_path(body, path) if path else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def iter_pages(
    client: HttpClient, paginator: Paginator, records_path: str, method: str = "GET", prefetch: bool = True
) -> Iterator[Page]:
    """Every page of the walk, in order; with `prefetch`, page n+1 is fetched while n is consumed."""
    pages = _walk(client, paginator, records_path, method)
    return _prefetched(pages) if prefetch else pages


def _walk(
    client: HttpClient, paginator: Paginator, records_path: str, method: str
) -> Generator[Page, None, None]:
    req: PageRequest | None = paginator.first_request()
    while req is not None:
        resp = client.get_json(req.url, req.params, method)
        records = records_at(resp.body, records_path)
        yield Page(paginator.pages, resp, records)
        req = paginator.next_request(resp, records)


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_DONE = object()


def _prefetched(pages: Generator[Page, None, None], depth: int = 1) -> Iterator[Page]:
    """Run `pages` in a thread at most `depth` pages ahead; its errors re-raise here, in order.

    Fetching is mostly waiting on the socket (the GIL is free), so it overlaps with the caller's
    Arrow conversion. The bounded queue keeps memory at a few pages whatever the speed difference.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                if not _offer(q, page, stop):
                    return
            _offer(q, _DONE, stop)
        except BaseException as exc:  # handed to the consumer, which raises it
            _offer(q, _Failed(exc), stop)
        finally:
            pages.close()

    threading.Thread(target=produce, name="etl-prefetch", daemon=True).start()
    try:
        while (item := q.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()  # the consumer left early (or failed): let the producer go


def _offer(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put `item` unless the consumer has gone; False means stop producing."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
