"""The retry policy against a real server that fails on purpose; waits are recorded, never slept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from etl.config.schema import Auth, RestSource, Retry
from etl.sources.base import ExtractStats
from etl.sources.connections import ConnectionInfo
from etl.sources.http import HttpClient, HttpError, RetriesExhausted
from etl.sources.rest import iter_batches
from tests.helpers.http_server import Reply, script, serve

BEARER = Auth()
OK = Reply(body={"results": [{"id": "1"}], "paging": {}})


def _conn(port: int, conn_id: str = "crm_api") -> ConnectionInfo:
    return ConnectionInfo(conn_id, "http", "127.0.0.1", port, None, None, "s3cret", {})


def _client(port: int, waits: list[float], auth: Auth = BEARER, **retry: object) -> HttpClient:
    policy = Retry.model_validate({"max_attempts": 4, "backoff_s": 0.5, "max_backoff_s": 3.0, **retry})
    # rand=1.0 makes full jitter pick its upper bound, so the backoff sequence is exact.
    return HttpClient(_conn(port), auth, policy, timeout_s=2.0, sleep=waits.append, rand=lambda: 1.0)


def _get(app_replies: tuple[Reply, ...], **retry: object) -> tuple[list[float], HttpClient, int]:
    waits: list[float] = []
    with serve(script(*app_replies)) as server, _client(server.port, waits, **retry) as client:
        resp = client.get_json(f"{server.url}/x")
        assert resp.body == OK.body
        return waits, client, len(server.requests)


def test_429_with_retry_after_zero_retries_at_once() -> None:
    waits, client, n = _get((Reply(429, {"message": "slow down"}, {"Retry-After": "0"}), OK))
    assert waits == [0.0] and client.retries == 1 and n == 2


def test_429_with_retry_after_seconds_waits_that_long() -> None:
    waits, _, _ = _get((Reply(429, None, {"Retry-After": "2"}), Reply(503, None, {"Retry-After": "1.5"}), OK))
    assert waits == [2.0, 1.5]


def test_retry_after_as_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    waits, _, _ = _get((Reply(503, None, {"Retry-After": when}), OK))
    assert 25 < waits[0] <= 30


def test_5xx_backs_off_exponentially_up_to_the_cap() -> None:
    waits, client, n = _get((Reply(500), Reply(502), Reply(504), OK), max_attempts=5, max_backoff_s=1.5)
    assert waits == [0.5, 1.0, 1.5] and client.retries == 3 and n == 4


def test_full_jitter_draws_below_the_backoff() -> None:
    waits: list[float] = []
    policy = Retry(max_attempts=3, backoff_s=0.25, jitter=True)
    with serve(script(Reply(500), OK)) as server:
        client = HttpClient(_conn(server.port), Auth(), policy, 2.0, sleep=waits.append, rand=lambda: 0.5)
        client.get_json(server.url)
    assert waits == [0.125]  # full jitter: uniform in [0, backoff)


def test_dropped_connection_and_truncated_body_are_retried() -> None:
    waits, client, n = _get((Reply(drop=True), Reply(body=OK.body, truncate=True), OK))
    assert len(waits) == 2 and client.retries == 2 and n == 3


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    waits: list[float] = []
    with serve(script(Reply(500, {"error": "db down"}))) as server, _client(server.port, waits) as client:
        with pytest.raises(RetriesExhausted) as err:
            client.get_json(f"{server.url}/x", {"limit": 2})
    assert str(err.value) == (
        f"gave up on {server.url}/x?limit=2 after 4 attempts; last error: "
        f'500 Internal Server Error from {server.url}/x?limit=2: \'{{"error": "db down"}}\''
    )
    assert len(waits) == 3


@pytest.mark.parametrize(
    ("status", "auth", "hint"),
    [
        (401, Auth(), "check connection crm_api's password (token)"),
        (401, Auth(type="basic"), "check connection crm_api's login and password"),
        (403, Auth(), "connection crm_api's credentials are valid but not allowed to read this endpoint"),
        (404, Auth(), "check source.path in the mapping and the host/schema of connection crm_api"),
        (400, Auth(), "the server rejected the request; check source.params"),
    ],
)
def test_client_errors_raise_at_once_with_a_hint(status: int, auth: Auth, hint: str) -> None:
    waits: list[float] = []
    body = {"message": "x" * 400}
    with serve(script(Reply(status, body))) as server, _client(server.port, waits, auth) as client:
        with pytest.raises(HttpError) as err:
            client.get_json(f"{server.url}/crm/v3/objects/contacts")
        assert len(server.requests) == 1 and waits == []
    message = str(err.value)
    assert message.startswith(f"{status} ")
    assert f'from {server.url}/crm/v3/objects/contacts: {hint}; response body: \'{{"message": "xxx' in message
    assert message.endswith("xxx'") and len(message) < 600  # body cut at 300 characters
    assert err.value.status == status


def test_api_key_in_query_never_shows_in_errors() -> None:
    waits: list[float] = []
    auth = Auth(type="api_key", query_param="api_key")
    with (
        serve(script(Reply(401, {"error": "bad key"}))) as server,
        _client(server.port, waits, auth) as client,
    ):
        with pytest.raises(HttpError) as err:
            client.get_json(f"{server.url}/x", {"q": "1"})
        assert server.requests[0].query == {"q": "1", "api_key": "s3cret"}
    assert "s3cret" not in str(err.value)
    assert f"from {server.url}/x?q=1&api_key=***: check connection crm_api's password (API key)" in str(
        err.value
    )


def test_api_key_header_and_basic_auth_are_sent() -> None:
    with serve(script(OK)) as server:
        with _client(server.port, [], Auth(type="api_key", header="X-Key")) as client:
            client.get_json(server.url)
        with _client(server.port, [], Auth(type="basic")) as client:
            client.get_json(server.url)
    assert server.requests[0].headers["X-Key"] == "s3cret"
    assert server.requests[1].headers["Authorization"].startswith("Basic ")


def test_source_counts_retries_and_401_names_the_connection() -> None:
    waits: list[float] = []
    with serve(script(Reply(429, None, {"Retry-After": "0"}), Reply(500), OK)) as server:
        stats = ExtractStats()
        cfg = RestSource(connection="crm_api", path="/c", retry=Retry(backoff_s=0.1, jitter=False))
        rows = sum(t.num_rows for t in iter_batches(cfg, _conn(server.port), None, stats, sleep=waits.append))
    assert (rows, stats.retries, stats.requests, stats.pages) == (1, 2, 3, 1)
    assert waits == [0.0, 0.2]
    with serve(script(Reply(401, {"message": "invalid token"}))) as server:
        with pytest.raises(
            HttpError, match=r"^401 Unauthorized from .*: check connection crm_api's password"
        ):
            list(iter_batches(cfg, _conn(server.port), None, ExtractStats(), sleep=waits.append))


def test_closing_the_client_ends_a_backoff_wait_and_stops_retrying() -> None:
    import threading

    errors: list[BaseException] = []
    policy = Retry(max_attempts=4, backoff_s=600.0, max_backoff_s=600.0, jitter=False)
    with serve(script(Reply(503, {"error": "busy"}))) as server:
        client = HttpClient(_conn(server.port), Auth(), policy, timeout_s=5.0)  # real sleep: the closable wait

        def fetch() -> None:
            try:
                client.get_json(f"{server.url}/x")
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                errors.append(exc)

        worker = threading.Thread(target=fetch)
        worker.start()
        # Close only once the client is in its 600 s backoff wait (it counts the retry just before it
        # sleeps): closing while the first answer is still being read would stop it before any wait.
        while client.retries == 0 and worker.is_alive():
            worker.join(0.05)
        client.close()
        worker.join(120)
        assert not worker.is_alive()
    assert len(server.requests) == 2 and client.retries == 1  # the attempt after the cut wait is the last
    assert isinstance(errors[0], RetriesExhausted)
    assert str(errors[0]).startswith(f"stopped retrying {server.url}/x: the source run was closed; last error: 503")
