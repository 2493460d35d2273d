"""Bad REST pages: what a source API may send, and what the product owes each (see harness.py).

The base walk is a json_cursor walk (`next` in the body, `?after=` in the request) reading `results`.
"""

from __future__ import annotations

from tests.badinput.harness import Case, pages, rec
from tests.helpers.http_server import Reply

R = "rest"


def _forever_empty(request) -> Reply:
    """A source that hands out a fresh cursor on every page and never a record."""
    n = int(request.query.get("after", "0"))
    return Reply(200, {"results": [], "next": str(n + 1)})


def _forever_full(request) -> Reply:
    n = int(request.query.get("after", "0"))
    return Reply(200, {"results": [rec(n)], "next": str(n + 1)})



def _watermark_at_most(out, day: str) -> None:
    assert out.watermark is not None and out.watermark[:10] <= day, out.watermark


class _Flaky:
    """The first request gets `first`, later ones the page."""

    def __init__(self, first: Reply, page: dict) -> None:
        self.first, self.page, self.calls = first, page, 0

    def __call__(self, request) -> Reply:
        self.calls += 1
        return self.first if self.calls == 1 else Reply(200, self.page)


def _names(part: str):
    """A check: the stored error (etl_runs) names `part` as well as the setting."""

    def check(out) -> None:
        assert part in (out.runs[0]["error"] or ""), out.runs[0]["error"]

    return check


CASES = [
    # --- cursor values that are not a believable change time: the record waits in quarantine, the
    # watermark does not move past the good records, the walk goes on
    Case("cursor value not a time", R, "quarantined", pages([rec(1), rec(2, updated_at="not a time")], [rec(3)]),
         bad_ids=("r2",), warehouses=("duckdb", "postgresql")),
    Case("cursor value far in the future", R, "quarantined",
         pages([rec(1), rec(2, updated_at="2999-01-01T00:00:00Z")], [rec(3)]), rule="cursor_future",
         bad_ids=("r2",), check=lambda out: _watermark_at_most(out, "2024-01-04")),
    # --- walks that end or skip: loud failure, nothing committed (issue 9, defect 3)
    Case("records under another key", R, "failed", pages([rec(1)], [rec(2)], key="items"), error="records_path",
         warehouses=("duckdb", "postgresql")),
    Case("records key renamed on page 2", R, "failed",
         [pages([rec(1)], [rec(2)])[0], {"items": [rec(2)]}], error="no 'results'"),
    Case("empty 200 body mid-walk", R, "failed", [pages([rec(1)], [rec(2)])[0], Reply(200, b"")],
         error="empty body"),
    Case("empty 200 body first page", R, "failed", [Reply(200, b"")], error="empty body"),
    Case("204 inside a walk", R, "failed", [pages([rec(1)], [rec(2)])[0], Reply(204, b"")], error="empty body"),
    Case("empty page while has_more is true", R, "failed",
         [{"results": [rec(1)], "next": "1", "has_more": True}, {"results": [], "has_more": True}],
         error="has_more"),
    Case("body is a list, records_path expects an object", R, "failed", [[rec(1), rec(2)]],
         error="expects an object"),
    Case("records path holds a string", R, "failed", [{"results": "none"}], error="records_path"),
    Case("records path holds an empty object", R, "failed", [{"results": {}}], error="empty object"),
    Case("body announces nextRecordsUrl the paginator ignores", R, "failed",
         [{"results": [rec(1)], "nextRecordsUrl": "/items?after=1"}, {"results": [rec(2)]}],
         error="nextRecordsUrl"),
    Case("single paginator but Link rel=next", R, "failed",
         [Reply(200, {"results": [rec(1)]}, headers={"Link": '</items?after=1>; rel="next"'}), {"results": [rec(2)]}],
         mapping={"source": {"paginator": {"type": "single"}}}, error="rel=\"next\""),
    Case("offset total not reached, empty page", R, "failed",
         [{"results": [rec(1), rec(2), rec(3)], "total": 5}, *[{"results": [], "total": 5}] * 3],
         mapping={"source": {"paginator": {"type": "offset", "total_path": "total", "offset_param": "after"}}},
         error="total_path"),
    Case("page_number total_pages not reached, empty page", R, "failed",
         [{"results": [rec(1), rec(2), rec(3)], "pages": 3}, {"results": [], "pages": 3}],
         mapping={"source": {"paginator": {"type": "page_number", "page_param": "after", "start_page": 0,
                                           "total_pages_path": "pages"}}},
         error="total_pages_path"),
    # --- walks that never end (defect 8): bounded, loud
    Case("fresh cursors forever, no records", R, "failed", [_forever_empty], error="max_empty_pages"),
    Case("fresh cursors forever, one record each", R, "failed", [_forever_full],
         mapping={"source": {"max_pages": 40}}, error="max_pages=40"),
    Case("cursor repeats", R, "failed", [{"results": [rec(1)], "next": "1"}, {"results": [rec(2)], "next": "1"}],
         error="pagination loop"),
    # --- a walk's time bound (source.max_seconds) holds inside a request and its retries
    Case("body trickled past max_seconds", R, "failed",
         [pages([rec(1)], [rec(2)])[0], Reply(200, {"results": [rec(2)], "pad": "x" * 12_000}, trickle_s=0.05)],
         mapping={"source": {"max_seconds": 3}}, error="source.max_seconds", check=_names("body was still arriving")),
    Case("429 with Retry-After of 10 hours", R, "failed",
         [Reply(429, {"message": "quota"}, {"Retry-After": "36000"}), pages([rec(1)])[0]],
         mapping={"source": {"max_seconds": 3, "retry": {"max_attempts": 6}}}, error="source.max_seconds",
         check=_names("Retry-After 36000 s (10.0 h)")),
    Case("503 with Retry-After beyond the deadline on page 2", R, "failed",
         [pages([rec(1)], [rec(2)])[0], Reply(503, {"message": "maintenance"}, {"Retry-After": "900"})],
         mapping={"source": {"max_seconds": 3, "retry": {"max_attempts": 6}}}, error="source.max_seconds",
         check=_names("Retry-After 900 s (15.0 min)")),
    # --- HTTP faults
    Case("401 bad token", R, "failed", [Reply(401, {"message": "no"})], error="401"),
    Case("404 on page 2", R, "failed", [pages([rec(1)], [rec(2)])[0], Reply(404, {"message": "gone"})],
         error="404"),
    Case("500 forever", R, "failed", [Reply(500, {"message": "boom"})], error="gave up"),
    Case("invalid JSON body", R, "failed", [Reply(200, b"<html>proxy error</html>")], error="invalid JSON"),
    Case("truncated body", R, "failed", [Reply(200, {"results": [rec(1)]}, truncate=True)], error="gave up"),
    Case("one 503 then the page", R, "loaded", [_Flaky(Reply(503, {"message": "busy"}), pages([rec(1)])[0])],
         values={"r1": {"name": "name 1"}}, ids=("r1",)),
    Case("dropped connection then the page", R, "loaded", [_Flaky(Reply(drop=True), pages([rec(1)])[0])],
         values={"r1": {"name": "name 1"}}, ids=("r1",)),
    # --- records that are odd but must be accounted for (loaded, or quarantined with a reason)
    Case("clean two-page walk", R, "loaded", pages([rec(1), rec(2)], [rec(3)]),
         values={"r3": {"name": "name 3", "amount": "3.5"}}, warehouses=("duckdb", "postgresql")),
    Case("null records key is an empty page", R, "loaded", [{"results": [rec(1)], "next": "1"}, {"results": None}],
         values={"r1": {"amount": "1.5"}}),
    Case("first page 304 not modified", R, "loaded", [Reply(304, b"")]),
    Case("record without id", R, "quarantined", pages([rec(1), {"name": "anonymous", "amount": "2"}]),
         rule="primary_key_not_null", reason="primary key"),
    Case("empty object record", R, "quarantined", pages([rec(1), {}]), rule="primary_key_not_null"),
    Case("record is a bare number", R, "quarantined", pages([rec(1), 7]), rule="primary_key_not_null"),
    Case("amount is text", R, "quarantined", pages([rec(1), rec(2, amount="lots")]), rule="cast",
         reason="amount", bad_ids=("r2",)),
    Case("created date is garbage", R, "quarantined", pages([rec(1), rec(2, created="yesterday")]),
         mapping={"columns": {"created": {"type": "date"}}}, rule="cast", bad_ids=("r2",)),
    Case("id is a number", R, "loaded", pages([rec(1, id=5), rec(2)]), values={"5": {"name": "name 1"}}),
    Case("same id twice in one walk", R, "loaded", pages([rec(1), rec(2)], [rec(1, name="again")])),
    Case("unicode and control characters", R, "loaded", pages([rec(1, name="Zoë \u2603 \t tab"), rec(2)]),
         values={"r1": {"name": "Zoë \u2603 \t tab"}}),
    Case("huge text value", R, "loaded", pages([rec(1, name="x" * 300_000), rec(2)])),
    Case("nested unknown fields", R, "loaded", pages([rec(1, extra={"deep": {"deeper": [1, 2]}}), rec(2)])),
]
