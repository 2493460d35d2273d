"""Nothing invented, nothing exposed, the watermark honest: one small REST entity whose records carry
every kind of bad value the outside harness found (issue #9), synced into DuckDB and PostgreSQL alike.

Each record is accounted for (loaded, filtered, or quarantined with its rule), no raw personal value is
readable in etl_quarantine or extras, the watermark stops at what the run can vouch for, and a replay still
opens the sealed personal fields.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from etl import steps
from etl.config.loader import load_system
from etl.quality import replay
from tests.conftest import reset_pg
from tests.helpers.http_server import Reply, Request, serve
from tests.helpers.warehouse import assert_invariant, rows, runs

NOW = datetime.now(UTC).replace(microsecond=0)


def at(minutes: int) -> str:
    return (NOW - timedelta(days=1) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


SECRET_MAIL, SECRET_PHONE, OBJECT_MAIL = "ann.secret@example.com", "+4915112345678", "obj.secret@example.com"
RECORDS = [
    {"id": "1", "updated": at(1), "email": SECRET_MAIL, "phone": SECRET_PHONE, "amount": "9999999999999999.99",
     "signed": "2024-02-29", "score": "5", "tier": "gold"},
    {"id": "2", "updated": at(2), "email": "two.secret@example.com", "phone": SECRET_PHONE, "signed": "2024-02-30"},
    {"id": "3", "updated": at(3), "met_at": "31/02/2026 10:00"},
    {"id": "4", "updated": at(4), "signed": "0000-01-01"},
    {"id": "5", "updated": at(5), "met_at": "29/03/2026 02:30"},  # Berlin skipped 02:00-03:00 that night
    {"id": "6", "updated": at(6), "amount": "10000000000000000"},
    {"id": "7", "updated": at(7), "score": "abc"},  # a filter reads score: still a cast failure
    {"id": "8", "updated": at(8), "score": "-1"},  # filtered by the business rule
    {"id": "", "updated": at(9)},
    {"id": " 10 ", "updated": at(10), "note": "padded key"},
    {"id": "11", "updated": "2999-01-01T00:00:00Z"},  # a clock gone wrong: must not move the watermark
    {"id": "12", "updated": at(12), "email": {"address": OBJECT_MAIL, "kind": "work"}},
    {"id": "14", "updated": at(14), "note": "newer"},
    {"id": "14", "updated": at(13), "note": "older, sent later"},
    {"id": "15", "updated": at(15), "note": "nul\x00byte", "custom": "x\x00y"},
    {"id": "16", "updated": at(16), "email": "rep.secret@example.com", "signed": "03.01.2024"},  # replayable
    {"id": "17", "updated": at(30), "signed": "2024-13-01"},  # quarantined AND the largest real cursor
]
for _r in RECORDS:
    _r.setdefault("score", "1")  # the filter (score >= 0) keeps every record but 8
LOADED = {"1", "10", "14", "15"}
QUARANTINED = {"2": "cast", "3": "cast", "4": "cast", "5": "cast", "6": "cast", "7": "cast",
               None: "primary_key_not_null", "11": "cursor_future", "12": "cast", "16": "cast", "17": "cast"}
PERSONAL = [SECRET_MAIL, SECRET_PHONE, OBJECT_MAIL, "two.secret", "rep.secret", "obj.secret"]

ENTITY = """
primary_key: [id]
source:
  path: /people
  records_path: results
  paginator: {type: single}
  page_size_param: null
  incremental: {cursor_field: updated, clock_skew_s: 300}
columns:
  id: {}
  email: {normalise: [email], pii: hash}
  phone: {pii: drop}
  amount: {type: "decimal(18,2)"}
  signed: {type: date, formats: ["%Y-%m-%d"]}
  met_at: {type: timestamp, formats: ["%d/%m/%Y %H:%M"], timezone: Europe/Berlin}
  score: {type: integer}
  note: {}
  updated: {type: timestamp}
filters:
  - {column: score, op: ge, value: 0}
"""


SERVED = {"results": RECORDS}


def _api(req: Request) -> Reply:
    return Reply(200, SERVED)


@pytest.fixture
def people(tmp_path, monkeypatch) -> Iterator:
    maps, suites = tmp_path / "mappings" / "g", tmp_path / "suites"
    maps.mkdir(parents=True)
    suites.mkdir()
    (suites / "stg_g__people.json").write_text(json.dumps({"name": "stg_g__people", "expectations": [
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "email", "regex": "@"}}]}))
    (maps / "_system.yml").write_text("system: g\ndefaults:\n  source: {kind: rest, connection: g_api}\n")
    (maps / "people.yml").write_text(ENTITY)
    monkeypatch.setenv("ETL_EXPECTATIONS_DIR", str(suites))
    monkeypatch.setenv("ETL_MAPPINGS_DIR", str(tmp_path / "mappings"))
    monkeypatch.setenv("ETL_DATA_DIR", str(tmp_path / "var"))
    with serve(_api) as srv:
        monkeypatch.setenv("AIRFLOW_CONN_G_API", srv.url)
        yield load_system(maps).entities["people"]


def _all_text(url: str, table: str) -> str:
    return json.dumps([list(map(str, r)) for r in rows(url, f"SELECT * FROM {table}")])


def test_bad_values_are_quarantined_alike_and_nothing_personal_is_readable(people, warehouse):
    result = steps.run_entity(people, steps.RunContext(run_id="g-1", warehouse_url=warehouse))
    run = runs(warehouse, "g-1")["people"]
    assert_invariant(run)
    assert (result["filtered"], result["quarantined"]) == (1, len(QUARANTINED))

    loaded = {r[0]: r[1:] for r in rows(warehouse, "SELECT id, amount, note, email FROM stg_g__people")}
    assert set(loaded) == LOADED
    assert loaded["1"][0] == Decimal("9999999999999999.99")  # fits decimal(18,2): loaded exactly
    assert loaded["14"][1] == "newer"  # the greater cursor wins over the later arrival
    assert loaded["15"][1] == "nulbyte"  # the one NUL policy: stripped, on both warehouses
    salt = os.environ["ETL_PII_SALT"].encode()
    assert loaded["1"][2] == hashlib.sha256(salt + SECRET_MAIL.encode()).hexdigest()

    stored = rows(warehouse, "SELECT primary_key, failed_rule, reason FROM etl_quarantine")
    refused = {r[0]: (r[1], r[2]) for r in stored}
    assert {k: v[0] for k, v in refused.items()} == QUARANTINED
    assert "cursor updated 2999-01-01T00:00:00Z is later than the run's clock" in refused["11"][1]
    assert refused["12"][1].startswith("cast(email): an object")
    for leaked in PERSONAL:  # sealed in the record, never quoted in a reason, not in extras
        assert leaked not in _all_text(warehouse, "etl_quarantine")
        assert leaked not in _all_text(warehouse, "stg_g__people")
    # the watermark: the largest believable cursor read (17, quarantined: it waits for a replay, it is not
    # read again), never the future 11
    assert rows(warehouse, "SELECT watermark FROM etl_state")[0][0] == at(30)


def test_replay_opens_the_sealed_personal_fields(people, warehouse):
    steps.run_entity(people, steps.RunContext(run_id="g-1", warehouse_url=warehouse))
    fixed = people.model_copy(update={"columns": {**people.columns, "signed": people.columns["signed"].model_copy(
        update={"formats": ["%Y-%m-%d", "%d.%m.%Y"]})}})
    result = replay.replay(fixed, warehouse, run_id="g-replay")
    assert result["inserted"] == 1  # record 16, with its e-mail unsealed, normalised and hashed
    salt = os.environ["ETL_PII_SALT"].encode()
    assert rows(warehouse, "SELECT email, signed FROM stg_g__people WHERE id = '16'") == [
        (hashlib.sha256(salt + b"rep.secret@example.com").hexdigest(), datetime(2024, 1, 3).date())]


@pytest.mark.postgres
def test_a_value_postgresql_refuses_names_the_record_key_not_its_content(pg_url):
    """Past the NUL policy, any value COPY refuses fails the load naming the key and column, no value."""
    import pyarrow as pa
    import sqlalchemy as sa

    from etl.load.merge import LoadError, bulk_append
    from etl.load.warehouse import transaction

    reset_pg(pg_url)
    with transaction(pg_url) as conn:
        conn.execute(sa.text("CREATE TABLE t (id TEXT, note TEXT)"))
    with pytest.raises(LoadError) as err, transaction(pg_url) as conn:
        bulk_append(conn, "t", pa.table({"id": ["k1", "k2"], "note": ["fine", f"{SECRET_MAIL}\x00"]}), ["id"])
    assert "COPY into t refused the record with key k2" in str(err.value)
    assert SECRET_MAIL not in str(err.value)
    assert rows(pg_url, "SELECT count(*) FROM t") == [(0,)]


def test_a_field_newly_mapped_as_personal_leaves_extras(people, warehouse, monkeypatch):
    """Loaded while unmapped (raw in extras), then mapped with pii: hash: the backfill hashes it into its
    column and removes the raw value from extras, in the same transaction (the source sends nothing new)."""
    columns = {k: c for k, c in people.columns.items() if k != "phone"}
    before = people.model_copy(update={"columns": columns})
    steps.run_entity(before, steps.RunContext(run_id="g-0", warehouse_url=warehouse))
    assert SECRET_PHONE in _all_text(warehouse, "stg_g__people")  # an unmapped field, kept as received
    hashed = {**people.columns, "phone": people.columns["phone"].model_copy(update={"pii": "hash"})}
    monkeypatch.setitem(SERVED, "results", [])
    steps.run_entity(people.model_copy(update={"columns": hashed}),
                     steps.RunContext(run_id="g-1", warehouse_url=warehouse))
    assert SECRET_PHONE not in _all_text(warehouse, "stg_g__people")
    salt = os.environ["ETL_PII_SALT"].encode()
    assert rows(warehouse, "SELECT phone FROM stg_g__people WHERE id = '1'") == [
        (hashlib.sha256(salt + SECRET_PHONE.encode()).hexdigest(),)]
