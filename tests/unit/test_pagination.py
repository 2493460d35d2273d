"""Every paginator style against a server that implements it, plus the loop and max_pages guards."""

from __future__ import annotations

from typing import Any

import pytest

from etl.config.schema import RestSource
from etl.sources.base import ExtractStats
from etl.sources.connections import ConnectionInfo
from etl.sources.deadline import DeadlineExceeded
from etl.sources.http import HttpError
from etl.sources.pagination import PaginationError
from etl.sources.rest import iter_batches
from tests.helpers.http_server import Reply, Request, serve

ITEMS = [{"id": str(i), "n": i} for i in range(25)]
PAGE = 10


def _conn(port: int) -> ConnectionInfo:
    return ConnectionInfo("test_api", "http", "127.0.0.1", port, None, None, "tok", {})


def _read(port: int, **source: Any) -> tuple[list[str], ExtractStats]:
    cfg = RestSource.model_validate({"connection": "test_api", "path": "/items", "page_size": PAGE, **source})
    stats = ExtractStats()
    tables = list(iter_batches(cfg, _conn(port), None, stats, sleep=lambda s: None))
    return [i for t in tables for i in t.column("id").to_pylist()], stats


def _slice(start: int) -> list[dict[str, Any]]:
    return ITEMS[start : start + PAGE]


def json_cursor_app(req: Request) -> Reply:
    start = int(req.query.get("after", 0))
    nxt = start + PAGE
    paging = {"next": {"after": str(nxt)}} if nxt < len(ITEMS) else {}
    return Reply(body={"results": _slice(start), "paging": paging})


def next_url_app(req: Request) -> Reply:
    start = int(req.query.get("from", 0))
    nxt = start + PAGE
    link = f"/items?from={nxt}&limit={PAGE}" if nxt < len(ITEMS) else None  # relative, resolved by us
    return Reply(body={"data": _slice(start), "next": link})


def link_header_app(req: Request) -> Reply:
    start = int(req.query.get("from", 0))
    nxt = start + PAGE
    links = f'<http://127.0.0.1/x?from=0>; rel="first", </items?from={nxt}>; rel="next"'
    return Reply(body=_slice(start), headers={"Link": links} if nxt < len(ITEMS) else {})


def page_number_app(req: Request) -> Reply:
    page = int(req.query["page"])
    return Reply(body={"items": _slice((page - 1) * PAGE), "total_pages": 3})


def offset_app(req: Request) -> Reply:
    return Reply(body={"rows": _slice(int(req.query["offset"])), "total": len(ITEMS)})


CASES = {
    "json_cursor": (json_cursor_app, {}, 3),
    "next_url": (
        next_url_app,
        {"records_path": "data", "paginator": {"type": "next_url", "next_url_path": "next"}},
        3,
    ),
    "link_header": (link_header_app, {"records_path": "", "paginator": {"type": "link_header"}}, 3),
    "page_number total": (
        page_number_app,
        {"records_path": "items", "paginator": {"type": "page_number", "total_pages_path": "total_pages"}},
        3,
    ),
    "page_number until empty": (
        page_number_app,
        {"records_path": "items", "paginator": {"type": "page_number"}},
        4,
    ),
    "offset total": (
        offset_app,
        {"records_path": "rows", "paginator": {"type": "offset", "total_path": "total"}},
        3,
    ),
    "offset short page": (offset_app, {"records_path": "rows", "paginator": {"type": "offset"}}, 3),
}


@pytest.mark.parametrize("name", CASES)
def test_each_style_reads_every_record_once(name: str) -> None:
    app, source, expected_requests = CASES[name]
    with serve(app) as server:
        ids, stats = _read(server.port, **source)
        assert ids == [r["id"] for r in ITEMS]
        assert stats.pages == stats.requests == len(server.requests) == expected_requests
        assert len({r.client_port for r in server.requests}) == 1  # one keep-alive connection


def test_single_request_and_params() -> None:
    with serve(lambda req: Reply(body={"results": ITEMS[:3]})) as server:
        ids, stats = _read(server.port, paginator={"type": "single"}, params={"archived": False, "q": "x"})
        assert ids == ["0", "1", "2"] and stats.pages == 1
        assert server.requests[0].query == {"archived": "false", "q": "x", "limit": "10"}
        assert server.requests[0].headers["Authorization"] == "Bearer tok"


def test_repeated_cursor_is_a_loop() -> None:
    same = Reply(body={"results": ITEMS[:2], "paging": {"next": {"after": "abc"}}})
    with serve(lambda req: same) as server:
        with pytest.raises(PaginationError) as err:
            _read(server.port)
        assert str(err.value) == (
            f"{server.url}/items: pagination loop after 2 pages: the server sent cursor 'abc' again "
            "(first requested for page 2)"
        )
        assert len(server.requests) == 2


def test_server_ignoring_the_page_parameter_is_a_loop() -> None:
    with serve(lambda req: Reply(body={"items": ITEMS[:PAGE]})) as server:
        with pytest.raises(
            PaginationError,
            match=r"page 2 returned the same records as page 1; does the server honour 'page'",
        ):
            _read(server.port, records_path="items", paginator={"type": "page_number"})


def test_max_pages_stops_a_runaway_walk() -> None:
    with serve(json_cursor_app) as server:
        with pytest.raises(PaginationError) as err:
            _read(server.port, max_pages=2)
        assert str(err.value) == (
            f"{server.url}/items: more than max_pages=2 pages (next cursor '20'); "
            "raise source.max_pages in the mapping if the data really is this large"
        )
        assert len(server.requests) == 2


def test_batches_have_batch_rows_rows_and_keep_order() -> None:
    with serve(json_cursor_app) as server:
        cfg = RestSource(connection="test_api", path="/items", page_size=PAGE, batch_rows=7)
        tables = list(iter_batches(cfg, _conn(server.port), None, ExtractStats()))
    assert [t.num_rows for t in tables] == [7, 7, 7, 4]
    assert [i for t in tables for i in t.column("id").to_pylist()] == [r["id"] for r in ITEMS]


def test_prefetch_off_gives_the_same_result() -> None:
    with serve(json_cursor_app) as server:
        cfg = RestSource(connection="test_api", path="/items", page_size=PAGE)
        tables = list(iter_batches(cfg, _conn(server.port), None, ExtractStats(), prefetch=False))
    assert tables[0].column("n").to_pylist() == [str(i) for i in range(25)]


def test_consumer_stopping_early_releases_the_walk() -> None:
    with serve(json_cursor_app) as server:
        cfg = RestSource(connection="test_api", path="/items", page_size=PAGE, batch_rows=5)
        batches = iter_batches(cfg, _conn(server.port), None, ExtractStats())
        assert next(batches).num_rows == 5
        batches.close()  # must not hang or raise


def test_an_error_on_a_later_page_reaches_the_consumer() -> None:
    def app(req: Request) -> Reply:
        return Reply(404, {"message": "gone"}) if "after" in req.query else json_cursor_app(req)

    with serve(app) as server:
        with pytest.raises(HttpError, match=r"^404 Not Found from .*/items\?limit=10&after=10: check source"):
            _read(server.port)


# ------------------------------------------------------------------ issue 9: walks never end or skip silently


def test_fresh_cursors_with_no_records_stop_after_max_empty_pages() -> None:
    def app(req: Request) -> Reply:
        n = int(req.query.get("after", 0))
        return Reply(body={"results": [], "paging": {"next": {"after": str(n + 1)}}})

    with serve(app) as server:
        with pytest.raises(PaginationError, match=r"4 pages in a row held no records .*source.max_empty_pages=3"):
            _read(server.port)
        assert len(server.requests) == 4


def test_a_walk_is_bounded_by_wall_time() -> None:
    def app(req: Request) -> Reply:  # fresh records forever
        n = int(req.query.get("after", 0))
        return Reply(body={"results": [{"id": str(n)}], "paging": {"next": {"after": str(n + 1)}}})

    with serve(app) as server:
        # Between pages (PaginationError) or, if the time runs out during a request, inside it.
        with pytest.raises((PaginationError, DeadlineExceeded), match=r"max_seconds=0.2 .*raise source.max_seconds"):
            _read(server.port, max_seconds=0.2)


def test_default_bounds_fit_the_page_size() -> None:
    assert RestSource(connection="c", path="/x", page_size=100).page_limit == 200_000
    assert RestSource(connection="c", path="/x", page_size=100_000).page_limit == 1_000
    assert RestSource(connection="c", path="/x", max_pages=7).page_limit == 7
    for bad in ({"max_seconds": 0}, {"max_seconds": 8 * 86400}, {"max_empty_pages": -1}, {"max_pages": 0},
                {"request_max_seconds": 0}):
        with pytest.raises(ValueError):
            RestSource(connection="c", path="/x", **bad)


@pytest.mark.parametrize(("pages", "source", "message"), [
    ([{"results": [{"id": "1"}], "paging": {"next": {"after": "1"}}}, {"items": [{"id": "2"}]}], {},
     r"page 2: no 'results' in the document \(records_path\); the keys there are: 'items'"),
    ([{"results": [{"id": "1"}], "paging": {"next": {"after": "1"}}}, b""], {}, r"page 2 has an empty body"),
    ([{"items": [{"id": "1"}], "more": True}, {"items": [], "more": True}],
     {"records_path": "items", "paginator": {"type": "page_number", "has_more_path": "more"}},
     r"would end at page 2 \(0 records\) although paginator.has_more_path 'more' is true"),
    ([{"results": [{"id": "1"}], "@odata.nextLink": "/items?after=1"}], {},
     r"the response has '@odata.nextLink' = '/items\?after=1' \(paginator 'json_cursor' does not follow it\)"),
    ([{"results": [{"id": "1"}], "has_more": True}], {"paginator": {"type": "single"}},
     r"'has_more' = true \(paginator 'single'"),
])
def test_a_walk_that_would_lose_records_fails_naming_the_setting(pages, source, message) -> None:
    def app(req: Request) -> Reply:
        n = int(req.query.get("after", req.query.get("page", 1 if "page" in req.query else 0)))
        n = n - 1 if "page" in req.query else n
        body = pages[min(n, len(pages) - 1)]
        return Reply(body=body)

    with serve(app) as server:
        with pytest.raises(PaginationError, match=message):
            _read(server.port, **source)


def test_no_content_is_an_empty_read_on_the_first_page_only() -> None:
    with serve(lambda req: Reply(304, b"")) as server:
        assert _read(server.port)[0] == []
