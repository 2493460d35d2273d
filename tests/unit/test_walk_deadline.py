"""`source.max_seconds` bounds the whole walk, not only the gaps between pages.

Real servers on 127.0.0.1 misbehave: one trickles a body a byte at a time (each byte long before the
read timeout, so no socket ever times out), others answer 429/503 with a `Retry-After` of hours or fail
with a backoff longer than the walk has left. The walk must stop with `DeadlineExceeded` naming the
URL (the query API key masked), what the server did and the setting to raise, without starting the
wait. Waits are recorded rather than slept where the test can do so; the trickle test runs the walk in
a thread and allows it a generous 60 s to end (a liveness check, not a timing assertion).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from etl.config.schema import RestSource
from etl.sources.base import ExtractStats
from etl.sources.connections import ConnectionInfo
from etl.sources.deadline import DeadlineExceeded
from etl.sources.http import RetriesExhausted
from etl.sources.rest import iter_batches
from tests.helpers.http_server import Reply, script, serve

KEY = "qk-5ecret-771"
OK = Reply(body={"results": [{"id": "1"}], "paging": {}})
PAGE_1 = Reply(body={"results": [{"id": "1"}], "paging": {"next": {"after": "1"}}})
LIVENESS_S = 60  # far above max_seconds; only a walk that ignores its deadline gets near it


def _read(port: int, waits: list[float] | None = None, **source: Any) -> list[str]:
    cfg = RestSource.model_validate({
        "connection": "api", "path": "/items", "auth": {"type": "api_key", "query_param": "api_key"},
        "retry": {"max_attempts": 6, "backoff_s": 0.01, "max_backoff_s": 0.05, "jitter": False}, **source})
    conn = ConnectionInfo("api", "http", "127.0.0.1", port, None, None, KEY, {})
    sleep = waits.append if waits is not None else None
    tables = list(iter_batches(cfg, conn, None, ExtractStats(), sleep=sleep))
    return [i for t in tables for i in t.column("id").to_pylist()]


def _fails(message: str, *replies: Reply, **source: Any) -> list[float]:
    waits: list[float] = []
    with serve(script(*replies)) as server:
        with pytest.raises(DeadlineExceeded, match=message) as caught:
            _read(server.port, waits, **source)
    text = str(caught.value)
    assert f"http://127.0.0.1:{server.port}/items" in text and "api_key=***" in text, text
    assert KEY not in text and "raise source.max_seconds" in text, text
    return waits


@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_beyond_the_deadline_fails_at_once_without_waiting(status: int) -> None:
    waits = _fails(r"Retry-After 36000 s \(10.0 h\) .*longer than the walk has left.*max_seconds=3",
                   Reply(status, {"message": "come back tomorrow"}, {"Retry-After": "36000"}), OK, max_seconds=3)
    assert waits == []  # not even the capped 300 s wait was started


def test_a_retry_after_date_beyond_the_deadline_fails_at_once() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    waits = _fails(r"Retry-After 7\d\d\d s \(2.0 h\)", PAGE_1, Reply(429, None, {"Retry-After": later}), OK,
                   max_seconds=600)
    assert waits == []


def test_a_retry_after_within_the_deadline_is_waited_as_before() -> None:
    waits: list[float] = []
    with serve(script(Reply(429, None, {"Retry-After": "2"}), OK)) as server:
        assert _read(server.port, waits, max_seconds=3600) == ["1"]
    assert waits == [2.0]


def test_a_backoff_that_would_end_past_the_deadline_is_not_started() -> None:
    retry = {"max_attempts": 6, "backoff_s": 100, "max_backoff_s": 100, "jitter": False}
    waits = _fails(r"next attempt would start in 100 s, after the walk's deadline; last error: 500",
                   Reply(500, {"message": "boom"}), OK, max_seconds=3, retry=retry)
    assert waits == []


def test_a_body_trickled_byte_by_byte_ends_at_the_deadline() -> None:
    padding = "x" * 100_000  # 100,000 bytes at 20 per second: more than an hour
    trickle = Reply(body={"results": [{"id": "2"}], "pad": padding}, trickle_s=0.05)
    outcome: dict[str, BaseException | list[str]] = {}

    with serve(script(PAGE_1, trickle)) as server:
        def walk() -> None:
            try:
                outcome["ids"] = _read(server.port, max_seconds=3, timeout_s=30)
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                outcome["error"] = exc

        thread = threading.Thread(target=walk, daemon=True)
        thread.start()
        thread.join(LIVENESS_S)
        assert not thread.is_alive(), f"the walk was still reading a trickled body after {LIVENESS_S} s"
    error = outcome.get("error")
    assert isinstance(error, DeadlineExceeded), outcome
    text = str(error)
    assert "response body was still arriving" in text and "source.max_seconds=3" in text, text
    assert "api_key=***" in text and KEY not in text, text
    assert len(server.requests) == 2  # the slow body was not retried with a fresh budget


def test_pages_read_in_chunks_still_share_one_keep_alive_connection() -> None:
    big = [{"id": str(i), "text": "y" * 2_000} for i in range(300)]  # ~600 KB per page, many reads each
    pages = [Reply(body={"results": big, "paging": {"next": {"after": "1"}}}), Reply(body={"results": big[:5]})]
    with serve(script(*pages)) as server:
        assert len(_read(server.port, max_seconds=3600, page_size=300)) == 305
    assert len({r.client_port for r in server.requests}) == 1


def test_a_request_over_its_own_bound_is_abandoned_and_retried() -> None:
    """`source.request_max_seconds`: one slow request is retried like a read timeout, the walk goes on."""
    slow = Reply(body={"results": [{"id": "1"}], "pad": "x" * 100_000}, trickle_s=0.05)
    waits: list[float] = []
    with serve(script(slow, OK)) as server:
        assert _read(server.port, waits, max_seconds=600, request_max_seconds=2) == ["1"]
    assert len(server.requests) == 2 and len(waits) == 1


def test_a_request_bound_that_keeps_failing_says_which_setting() -> None:
    slow = Reply(body={"results": [{"id": "1"}], "pad": "x" * 100_000}, trickle_s=0.05)
    retry = {"max_attempts": 2, "backoff_s": 0, "max_backoff_s": 0}
    with serve(script(slow)) as server:
        with pytest.raises(RetriesExhausted, match=r"gave up .* after 2 attempts.*still arriving.*"
                                                   r"raise source.request_max_seconds"):
            _read(server.port, [], max_seconds=600, request_max_seconds=1, retry=retry)
