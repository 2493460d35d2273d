"""Property tests for page walks (issue 9): for any sequence of pages a source may send, every record is
yielded exactly once, or the walk fails loudly. Never a silent end, skip or duplicate.

Hypothesis draws walks of pages: each page holds fresh records and points at the next one, and may be
spoiled (records under another key, an empty body, a 204, an empty page that still points on, a
repeated cursor, a `has_more` true on the last page, a `nextRecordsUrl` the paginator does not follow,
null records). One real HTTP server answers every example from a shared holder.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.config.schema import RestSource
from etl.sources.base import ExtractStats
from etl.sources.connections import ConnectionInfo
from etl.sources.http import HttpError, RetriesExhausted
from etl.sources.pagination import PaginationError
from etl.sources.rest import iter_batches
from tests.helpers.http_server import Reply, Request, serve

SPOILS = ["none", "none", "none", "other_key", "empty_body", "no_content", "empty_page", "repeat_cursor",
          "has_more_at_end", "foreign_next", "null_records"]
LOUD = (PaginationError, HttpError, RetriesExhausted)


class Walk:
    """The pages of the current example, served by cursor (`after=<n>`)."""

    replies: list[Reply] = []

    def __call__(self, req: Request) -> Reply:
        n = int(req.query.get("after", "0"))
        return self.replies[n] if n < len(self.replies) else Reply(200, {"results": []})


WALK = Walk()


@pytest.fixture(scope="module")
def server():
    with serve(WALK) as srv:
        yield srv


def build(sizes: list[int], spoils: list[str]) -> tuple[list[Reply], list[str]]:
    """The replies of a walk and the ids a complete walk must yield: those of the pages reachable from
    the first one by following `next` (a 204 or an empty body points nowhere)."""
    replies, page_ids, nexts, next_id = [], [], [], 0
    for n, (size, spoil) in enumerate(zip(sizes, spoils, strict=True)):
        records = [{"id": f"r{next_id + i}"} for i in range(size)]
        next_id += size
        last = n == len(sizes) - 1
        body: dict[str, Any] = {"results": records}
        if not last:
            body["next"] = str(n + 1)
        if spoil == "other_key":
            body["items"] = body.pop("results")
        elif spoil == "empty_page":
            body["results"], records = [], []
        elif spoil == "repeat_cursor" and n > 0:
            body["next"] = str(n)
        elif spoil == "has_more_at_end" and last:
            body["has_more"] = True
        elif spoil == "foreign_next" and last:
            body["nextRecordsUrl"] = "/more"
        elif spoil == "null_records":
            body["results"], records = None, []
        if spoil in ("empty_body", "no_content"):
            replies.append(Reply(200, b"") if spoil == "empty_body" else Reply(204, b""))
            page_ids.append([])
            nexts.append(None)
        else:
            replies.append(Reply(200, body))
            page_ids.append([r["id"] for r in records])
            nexts.append(int(body["next"]) if "next" in body else None)
    expected, seen, at = [], set(), 0
    while at is not None and at not in seen and at < len(replies):
        seen.add(at)
        expected += page_ids[at]
        at = nexts[at]
    return replies, expected


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=6),
       data=st.data(), prefetch=st.booleans())
def test_every_record_exactly_once_or_a_loud_failure(server, sizes, data, prefetch) -> None:
    spoils = data.draw(st.lists(st.sampled_from(SPOILS), min_size=len(sizes), max_size=len(sizes)))
    WALK.replies, expected = build(sizes, spoils)
    cfg = RestSource(connection="t", path="/items", paginator={"type": "json_cursor", "cursor_path": "next",
                                                               "cursor_param": "after"},
                     max_empty_pages=2, retry={"max_attempts": 1})
    conn = ConnectionInfo("t", "http", "127.0.0.1", server.port, None, None, "tok", {})
    try:
        tables = list(iter_batches(cfg, conn, None, ExtractStats(), prefetch=prefetch))
    except LOUD:
        return  # a loud failure is an acceptable outcome of any walk
    got = [i for t in tables for i in (t.column("id").to_pylist() if "id" in t.column_names else [])]
    assert sorted(got) == sorted(expected), (spoils, got, expected)
    assert len(got) == len(set(got))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=6))
def test_a_clean_walk_is_never_refused(server, sizes) -> None:
    """The guards must not cry wolf: an unspoiled walk (empty pages only at its end) loads whole."""
    WALK.replies, expected = build(sizes, ["none"] * len(sizes))
    cfg = RestSource(connection="t", path="/items", paginator={"type": "json_cursor", "cursor_path": "next",
                                                               "cursor_param": "after"})
    conn = ConnectionInfo("t", "http", "127.0.0.1", server.port, None, None, "tok", {})
    tables = list(iter_batches(cfg, conn, None, ExtractStats()))
    assert [i for t in tables for i in t.column("id").to_pylist()] == expected
