"""The guards every pagination style shares: a walk never loops, outgrows its bounds, ends or skips silently.

Each style (`etl.sources.paginators`) says only how to ask for the first page and how to derive the
next request from a page it has seen; `Paginator` (the base, here) does what they share. A walk fails
loudly, never ends or skips silently, when:

* it would loop: a cursor, URL, page or offset already requested (its rows would load twice);
* it exceeds its bounds: `source.max_pages`, `source.max_seconds` of wall time, or
  `source.max_empty_pages` pages in a row that hold no records yet point at a next page (a source
  handing out fresh cursors forever);
* a page cannot hold records: an empty body with status 200, records under another key than
  `source.records_path`, a list where an object was expected (`page_records`);
* it would end while the source says there is more: `has_more_path` true, a total not reached, or a
  well-known "next" field or `Link: rel=next` that the configured paginator does not follow (the
  issue-10 guard for a missing or wrong `source.paginator`).

The walk's time bound is checked here between pages and, through `Deadline`, inside every request and
retry wait (`etl.sources.deadline`). `etl.sources.walk` drives a paginator with an `HttpClient`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from requests.utils import parse_header_links

from etl.config.schema import Paginator as PaginatorConfig
from etl.sources.deadline import Deadline
from etl.sources.http import Response
from etl.sources.records import RecordsPathError, get_path, records_at


class PaginationError(RuntimeError):
    """The walk would loop, exceed its bounds or lose records; fail loudly rather than read forever."""


NO_CONTENT = (204, 304)  # "nothing (changed)": an empty first page, never a page inside a walk
# Fields by which common APIs announce a next page; a walk that ends while one is set would lose it.
NEXT_FIELDS = ("next", "next_page", "nextPage", "next_cursor", "nextCursor", "next_page_token", "nextPageToken",
               "nextRecordsUrl", "@odata.nextLink", "paging.next", "links.next", "meta.next",
               "additional_data.next_cursor", "pagination.next", "pagination.next_cursor")
MORE_FIELDS = ("has_more", "hasMore", "more_records", "info.more_records", "more_items_in_collection",
               "additional_data.pagination.more_items_in_collection", "pagination.has_more")


@dataclass(frozen=True)
class Bounds:
    """How far one walk may go (from RestSource: page_limit, max_seconds, max_empty_pages)."""

    max_pages: int = 1_000_000
    max_seconds: float = 6 * 3600
    max_empty_pages: int = 3
    deadline: Deadline | None = None  # None: max_seconds from the first request


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
        self, cfg: PaginatorConfig, url: str, params: dict[str, Any], page_size: int, bounds: Bounds
    ) -> None:
        self.cfg, self.url, self.params = cfg, url, params
        self.page_size, self.bounds, self.max_pages = page_size, bounds, bounds.max_pages
        self.deadline = bounds.deadline or Deadline.after(bounds.max_seconds)
        self.pages = 0
        self.empty_run = 0  # pages in a row with no records that still pointed at a next page
        self.total_records: int | None = None  # when the server reports a total (progress shows an ETA)
        self._seen: dict[Any, int] = {}  # token -> page number that requested it
        self._last_page: tuple[int, bytes] | None = None

    def first_request(self) -> PageRequest:
        return self._checked(self._first())

    def next_request(self, response: Response, records: list[Any]) -> PageRequest | None:
        """The request for the page after this one, or None when the walk is complete."""
        nxt = self._next(response, records)
        if nxt is None:
            self._check_end(response, records)
            return None
        self.empty_run = 0 if records else self.empty_run + 1
        if self.empty_run > self.bounds.max_empty_pages:
            raise PaginationError(
                f"{self.url}: {self.empty_run} pages in a row held no records but pointed at a next page "
                f"({self.kind} {nxt.token!r}); the source seems to page forever: stopped after {self.pages} "
                f"pages (source.max_empty_pages={self.bounds.max_empty_pages})")
        return self._checked(nxt)

    def _check_end(self, response: Response, records: list[Any]) -> None:
        """The walk ends here: fail if the source says more records follow."""
        why = self._expects_more(response, records)
        if why:
            raise PaginationError(
                f"{self.url}: the walk would end at page {self.pages} ({len(records)} records) although {why}; "
                "the records it announces would be lost: check source.paginator and source.records_path")

    def _expects_more(self, response: Response, records: list[Any]) -> str | None:
        """Why the source expects another page, or None. Styles add their own totals."""
        has_more = self.cfg.has_more_path
        if has_more and get_path(response.body, has_more) in (True, "true"):
            return f"paginator.has_more_path {has_more!r} is true"
        own = {self.cfg.has_more_path, *self._own_fields()}
        body = response.body if isinstance(response.body, dict) else {}
        for name in NEXT_FIELDS:
            value = get_path(body, name) if name not in own else None
            if value not in (None, "", False, {}, []):
                return f"the response has {name!r} = {_short(value)} (paginator {self.cfg.type!r} does not follow it)"
        for name in MORE_FIELDS:
            if name not in own and get_path(body, name) in (True, "true"):
                return f"the response has {name!r} = true (paginator {self.cfg.type!r} does not follow it)"
        link = response.headers.get("Link", "") if self.cfg.type != "link_header" else ""
        if link and any("next" in lk.get("rel", "").split() for lk in parse_header_links(link)):
            return f"the response has a Link header with rel=\"next\" (paginator {self.cfg.type!r} does not follow it)"
        return None

    def _own_fields(self) -> tuple[str, ...]:
        """The body fields the configured style reads (not a sign of a missed page)."""
        return ()

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
        if self.pages and self.deadline.passed():
            raise PaginationError(
                f"{self.url}: the walk ran longer than max_seconds={self.bounds.max_seconds:g} ({self.pages} "
                f"pages, next {self.kind} {req.token!r}); raise source.max_seconds in the mapping if the "
                "source really is this slow")
        self.pages += 1
        if req.token is not None:
            self._seen[req.token] = self.pages
        return req


def page_records(resp: Response, records_path: str, number: int) -> list[Any]:
    """The records of page `number`; a body that cannot hold them fails the walk, naming the setting."""
    if resp.body is None:
        if resp.status in NO_CONTENT and number == 1:
            return []
        raise PaginationError(
            f"{resp.url}: page {number} has an empty body (status {resp.status}); a page inside a walk must "
            "hold its records (source.records_path), so the walk stops rather than lose them")
    try:
        return records_at(resp.body, records_path)
    except RecordsPathError as exc:
        raise PaginationError(f"{resp.url}: page {number}: {exc}; fix source.records_path in the mapping") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
