"""Cursor-expiry recovery: a server whose query cursors expire mid-walk, as Salesforce query locators
and HubSpot search cursors do. With `restart_on` the walk restarts its query from the highest cursor
value received and every record arrives exactly once; without it the run fails, naming the status."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from etl.config.schema import RestSource
from etl.sources.base import ExtractStats
from etl.sources.connections import get_connection
from etl.sources.http import HttpError
from etl.sources.rest import iter_batches
from tests.helpers.http_server import Reply, Request, serve

T0 = datetime(2024, 1, 1, tzinfo=UTC)
# 90 records, five per timestamp, so groups of equal cursor values straddle page boundaries (page of 7)
RECORDS = [{"Id": f"r{i:03d}", "LastModifiedDate": (T0 + timedelta(minutes=i // 5)).isoformat(), "n": i}
           for i in range(90)]


class ExpiringApi:
    """GET /query?since=...: records with cursor >= since, sorted; each locator serves `life` pages."""

    def __init__(self, life: int, records: list[dict] = RECORDS, time_field: str = "LastModifiedDate") -> None:
        self.life, self.locators, self.lock = life, {}, threading.Lock()
        self.records, self.time_field = records, time_field
        self.expired = 0

    def __call__(self, req: Request) -> Reply:
        with self.lock:
            if req.path == "/query":
                since = datetime.fromisoformat(req.query["since"].replace("Z", "+00:00"))
                rows = [r for r in self.records if datetime.fromisoformat(r[self.time_field]) >= since]
                return self._page(f"L{len(self.locators)}", rows, 0)
            loc, offset = req.path.rsplit("/", 2)[-2:]
            rows, served = self.locators[loc]
            if served >= self.life:
                self.expired += 1
                return Reply(400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}])
            return self._page(loc, rows, int(offset))

    def _page(self, loc: str, rows: list, offset: int) -> Reply:
        served = self.locators.get(loc, (rows, 0))[1] + 1
        self.locators[loc] = (rows, served)
        chunk, nxt = rows[offset:offset + 7], offset + 7
        body = {"records": chunk, "done": nxt >= len(rows)}
        if nxt < len(rows):
            body["nextRecordsUrl"] = f"/next/{loc}/{nxt}"
        return Reply(200, body)


def _source(restart: bool) -> RestSource:
    cfg = {"connection": "expiring_api", "path": "/query", "records_path": "records",
           "params": {"since": "{watermark:iso_s}"}, "page_size_param": None, "batch_rows": 1000,
           "paginator": {"type": "next_url", "next_url_path": "nextRecordsUrl"},
           "incremental": {"cursor_field": "LastModifiedDate"}}
    if restart:
        cfg["restart_on"] = {"status": [400], "body_contains": "INVALID_QUERY_LOCATOR"}
    return RestSource.model_validate(cfg)


def _read(api: ExpiringApi, cfg: RestSource) -> tuple[Counter, ExtractStats]:
    stats, ids = ExtractStats(), Counter()
    with serve(api) as srv:
        os.environ["AIRFLOW_CONN_EXPIRING_API"] = f"http://{srv.url.removeprefix('http://')}"
        for table in iter_batches(cfg, get_connection("expiring_api"), None, stats):
            ids.update(table.column("Id").to_pylist())
            assert json.loads(json.dumps(table.column_names))  # plain columns
    return ids, stats


@pytest.mark.parametrize("life", [1, 2, 3])
def test_expired_cursors_restart_without_loss_or_duplicate(life: int) -> None:
    api = ExpiringApi(life)
    ids, stats = _read(api, _source(restart=True))
    assert api.expired > 0 and stats.restarts == api.expired
    assert set(ids) == {r["Id"] for r in RECORDS} and set(ids.values()) == {1}
    assert stats.records == len(RECORDS)
    assert stats.max_cursor == RECORDS[-1]["LastModifiedDate"]


def test_without_the_rule_an_expired_cursor_fails_the_run() -> None:
    with pytest.raises(HttpError, match="400") as err:
        _read(ExpiringApi(2), _source(restart=False))
    assert "INVALID_QUERY_LOCATOR" in str(err.value)


def test_an_unbelievable_cursor_is_never_the_restart_point() -> None:
    """The server filters on its own clock (`_t`) while the cursor field of two records is not a real
    change time: one far in the future, one not a time. Restarting from either would skip every record
    not yet read (or crash the walk); they pass through to the quality step and the restarts use the
    highest believable cursor."""
    records = [{**r, "_t": r["LastModifiedDate"]} for r in RECORDS]
    records[10]["LastModifiedDate"] = "2999-01-01T00:00:00+00:00"
    records[20]["LastModifiedDate"] = "not a time"
    api = ExpiringApi(2, records, time_field="_t")
    ids, stats = _read(api, _source(restart=True))
    bogus = {"r010", "r020"}
    assert api.expired > 0 and stats.restarts == api.expired
    assert set(ids) == {r["Id"] for r in RECORDS}
    assert {n for i, n in ids.items() if i not in bogus} == {1}  # every good record exactly once
