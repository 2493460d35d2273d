"""The REST source against the demo CRM process, configured by the real `mappings/crm/contacts.yml`.

Every record arrives exactly once on a full read, still exactly once when the server throws 429s,
500s and dropped connections at us, and an incremental read after a mutation returns exactly the
changed records.
"""

from __future__ import annotations

from collections import Counter

import pytest

from etl.config.loader import load_system, mappings_dir
from etl.config.schema import RestSource, Retry
from etl.sources.base import ExtractStats
from etl.sources.connections import get_connection
from etl.sources.http import HttpError
from etl.sources.rest import iter_batches

FAST_RETRY = Retry(max_attempts=12, backoff_s=0.01, max_backoff_s=0.05)


@pytest.fixture(scope="module")
def contacts(crm_server) -> RestSource:  # crm_server (tests/conftest.py) exports AIRFLOW_CONN_CRM_API
    source = load_system(mappings_dir() / "crm").entities["contacts"].source
    assert isinstance(source, RestSource)
    # Small pages so 200 demo contacts take several; short backoffs so fault runs stay quick.
    return source.model_copy(update={"page_size": 25, "batch_rows": 60, "retry": FAST_RETRY})


def _read(cfg: RestSource, watermark: str | None = None) -> tuple[Counter[str], ExtractStats]:
    stats = ExtractStats()
    ids: Counter[str] = Counter()
    for table in iter_batches(cfg, get_connection(cfg.connection), watermark, stats):
        assert table.num_rows <= cfg.batch_rows
        ids.update(table.column("id").to_pylist())
    return ids, stats


def test_full_read_returns_every_record_once(crm_server, contacts: RestSource) -> None:
    expected = crm_server.admin("stats")["contacts"]
    ids, stats = _read(contacts)
    assert len(ids) == expected and set(ids.values()) == {1}
    assert stats.records == expected and stats.pages == -(-expected // 25) and stats.retries == 0
    assert stats.max_cursor is not None and stats.max_cursor.endswith("Z")


def test_faults_are_retried_without_losing_or_repeating_records(crm_server, contacts: RestSource) -> None:
    expected = crm_server.admin("stats")["contacts"]
    crm_server.admin("faults", {"rate_429": 0.2, "retry_after": "0", "rate_500": 0.15, "rate_drop": 0.15})
    try:
        ids, stats = _read(contacts)
    finally:
        crm_server.admin("faults", {"rate_429": 0.0, "rate_500": 0.0, "rate_drop": 0.0})
    assert len(ids) == expected and set(ids.values()) == {1}
    assert stats.retries > 0 and stats.requests == stats.pages + stats.retries


def test_incremental_read_after_mutation_returns_exactly_the_changes(
    crm_server, contacts: RestSource
) -> None:
    _, first = _read(contacts)
    changes = crm_server.admin("mutate", {"fraction": 0.05, "new": 2, "entities": ["contacts"]})
    ids, stats = _read(contacts, first.max_cursor)
    expected = changes["changed_ids"]["contacts"] + changes["added_ids"]["contacts"]
    assert sorted(ids) == sorted(expected) and set(ids.values()) == {1}
    assert stats.max_cursor is not None and stats.max_cursor > first.max_cursor  # same ISO shape
    again, _ = _read(contacts, stats.max_cursor)
    assert not again  # nothing changed since


def test_wrong_token_fails_at_once_naming_the_connection(
    crm_server, contacts: RestSource, monkeypatch
) -> None:
    host_port = crm_server.url.removeprefix("http://")
    monkeypatch.setenv("AIRFLOW_CONN_CRM_API", f"http://:wrong@{host_port}")
    with pytest.raises(HttpError) as err:
        _read(contacts)
    assert str(err.value).startswith(
        f"401 Unauthorized from {crm_server.url}/crm/v3/objects/contacts?limit=25: "
        "check connection crm_api's password (token); response body: "
    )
    assert "wrong" not in str(err.value)
