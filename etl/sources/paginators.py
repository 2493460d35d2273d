"""Pagination styles of real REST APIs, as small strategies behind the shared guards.

A style says how to ask for the first page and how to derive the next request from a page it has
seen (cursor in the body, next URL, `Link` header, page number, offset); everything else (loops,
bounds, pages that cannot hold records, a walk that would end early) is `Paginator`'s, in
`etl.sources.pagination`. `make_paginator` picks the style the mapping names in `source.paginator`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from requests.utils import parse_header_links

from etl.config.schema import Paginator as PaginatorConfig
from etl.sources.http import Response
from etl.sources.pagination import Bounds, PageRequest, PaginationError, Paginator
from etl.sources.records import get_path


class SinglePaginator(Paginator):
    def _next(self, response: Response, records: list[Any]) -> PageRequest | None:
        return None


class JsonCursorPaginator(Paginator):
    kind = "cursor"

    def _own_fields(self) -> tuple[str, ...]:
        path = self.cfg.cursor_path
        return tuple(path.rsplit(".", n)[0] for n in range(path.count(".") + 1))  # a.b.c, a.b, a

    def _next(self, response: Response, records: list[Any]) -> PageRequest | None:
        cursor = get_path(response.body, self.cfg.cursor_path)
        if cursor in (None, ""):
            return None
        return PageRequest(self.url, {**self.params, self.cfg.cursor_param: cursor}, str(cursor))


class NextUrlPaginator(Paginator):
    kind = "next URL"

    def _own_fields(self) -> tuple[str, ...]:
        path = self.cfg.next_url_path
        return tuple(path.rsplit(".", n)[0] for n in range(path.count(".") + 1))

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
    total_pages: float | None = None

    def _expects_more(self, response: Response, records: list[Any]) -> str | None:
        done = self.page - self.cfg.start_page + 1
        if self.total_pages is not None and done < self.total_pages:
            return f"paginator.total_pages_path {self.cfg.total_pages_path!r} says {self.total_pages:g} pages"
        return super()._expects_more(response, records)

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
        self.total_pages = total
        if not records or (total is not None and self.page - self.cfg.start_page + 1 >= total):
            return None
        if _says_no_more(response.body, self.cfg.has_more_path):
            return None
        self.page += 1
        return PageRequest(self.url, {**self.params, self.cfg.page_param: self.page}, self.page)


class OffsetPaginator(Paginator):
    kind = "offset"

    def _expects_more(self, response: Response, records: list[Any]) -> str | None:
        total = _number_at(response.body, self.cfg.total_path)
        if total is not None and not records and self.offset < total:
            return f"paginator.total_path {self.cfg.total_path!r} says {total:g} records and {self.offset} were read"
        return super()._expects_more(response, records)

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
    cfg: PaginatorConfig, url: str, params: dict[str, Any], page_size: int, bounds: Bounds | int
) -> Paginator:
    """`bounds`: the walk's Bounds, or just a max_pages."""
    return STYLES[cfg.type](cfg, url, params, page_size, bounds if isinstance(bounds, Bounds) else Bounds(bounds))


def _says_no_more(body: Any, path: str | None) -> bool:
    """`has_more_path` holds false (Zoho `info.more_records`, Pipedrive `more_items_in_collection`)."""
    return path is not None and get_path(body, path) in (False, "false", None)


def _number_at(body: Any, path: str | None) -> float | None:
    value = get_path(body, path) if path else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
