"""Outbound syncs into the demo OA system's REST API, checked against what the OA system holds.

The shipped YAML (mappings/oa/outbound/) runs against a warehouse table built here, so every case
controls exactly what changed: first run creates, a change goes out as exactly those updates, a run
with no change sends zero write requests (counted by the server), a refused record lands in
etl_push_rejects with the OA's reason and goes out once fixed, mirror deletes only what left and stops
at its guard, 429 + Retry-After is honoured, and a SIGKILLed push reruns without loss or duplicate.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from etl.config.outbound import load_syncs
from etl.push.run import PushError, dry_run, push
from etl.targets.base import TargetError
from tests.conftest import ROOT, reset_pg
from tests.helpers.push import OA_TOKEN, execute, oa_server, put_table, sync_of, target_records, writes
from tests.helpers.warehouse import rows

COMPANY_TYPES = {"created_at": "TIMESTAMP"}


def companies(n: int = 30) -> list[dict]:
    out = []
    for i in range(1, n + 1):
        out.append({"id": str(i), "name": f"Company  {i} GmbH", "city": "Berlin", "country": "Germany",
                    "customer_tier": "gold", "lifecycle_stage": "customer" if i <= 20 else "lead",
                    "created_at": dt.datetime(2024, 1, i % 28 + 1, 9, 30)})
    out[4]["country"] = "Atlantis"  # no ISO code: the OA refuses it (422 naming country_code)
    return out


def as_json(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value  # DuckDB JSON is text, PostgreSQL's a dict


def audit(url: str, run_id: str) -> dict:
    cols = "status, selected, created, updated, deleted, unchanged, rejected, filtered, error"
    row = rows(url, f"SELECT {cols} FROM etl_push_runs WHERE run_id = :r", r=run_id)[0]
    return dict(zip(cols.split(", "), row, strict=True))


@pytest.fixture
def oa():
    with oa_server() as srv:
        os.environ["AIRFLOW_CONN_OA_API"] = os.environ["AIRFLOW_CONN_TEST_OA"]
        yield srv
        os.environ.pop("AIRFLOW_CONN_OA_API", None)


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_create_change_idle_reject_and_fix(oa, warehouse, tmp_duckdb_url, pg_url):
    url = tmp_duckdb_url if warehouse == "duckdb" else pg_url
    if warehouse == "postgres":
        reset_pg(pg_url)
    sync = load_syncs()["crm_customers"]
    put_table(url, "stg_crm__companies", companies(), COMPANY_TYPES)

    first = push(sync, "run1", url)
    held = target_records(oa, "customers")
    assert first.counts == {"selected": 20, "created": 19, "updated": 0, "deleted": 0, "unchanged": 0,
                            "rejected": 1, "filtered": 10}
    assert set(held) == {f"C-{i}" for i in range(1, 21) if i != 5}
    assert held["C-1"] | {"id": None} == {"id": None, "external_id": "C-1", "customer_no": "C-1",
                                          "name": "Company 1 GmbH", "address": "Berlin, Germany", "city": "Berlin",
                                          "country_code": "DE", "customer_since": "2024/01/02", "tier": "gold"}
    [(key, reason, payload)] = rows(url, "SELECT key, reason, payload FROM etl_push_rejects WHERE run_id = 'run1'")
    assert key == "C-5" and reason == "422: country_code: is required" and as_json(payload)["customer_no"] == "C-5"
    target_ids = dict(rows(url, "SELECT key, target_id FROM etl_push_state"))
    assert target_ids["C-1"] == str(held["C-1"]["id"])  # the OA's own id is kept

    execute(url, "UPDATE stg_crm__companies SET name = 'Renamed AG' WHERE id IN ('2', '3')")
    execute(url, "UPDATE stg_crm__companies SET country = 'Germany' WHERE id = '5'")  # the fix
    execute(url, "UPDATE stg_crm__companies SET lifecycle_stage = 'customer' WHERE id = '21'")  # now active
    before = oa.admin("/_admin/writes")
    second = push(sync, "run2", url)
    after = oa.admin("/_admin/writes")
    assert (second.counts["created"], second.counts["updated"], second.counts["unchanged"]) == (2, 2, 17)
    assert after["records_written"] - before["records_written"] == 4  # exactly those records
    held = target_records(oa, "customers")
    assert held["C-2"]["name"] == held["C-3"]["name"] == "Renamed AG" and held["C-5"]["country_code"] == "DE"
    assert len(held) == 21

    idle_before = writes(oa)
    third = push(sync, "run3", url)
    assert writes(oa) == idle_before  # zero write requests reached the server
    assert third.counts["unchanged"] == 21 and third.requests == 0
    for run in ("run1", "run2", "run3"):
        a = audit(url, run)
        assert a["status"] == "success"
        assert a["selected"] == a["created"] + a["updated"] + a["unchanged"] + a["rejected"]


def contacts(n: int) -> list[dict]:
    return [{"id": str(i), "first_name": f"Ann{i}", "last_name": f"Lee{i}", "country": "France",
             "lead_source": "online_promotion"} for i in range(1, n + 1)]


def test_mirror_deletes_only_what_left_and_stops_at_the_guard(oa, tmp_duckdb_url):
    url, sync = tmp_duckdb_url, load_syncs()["online_promotion_list"]
    put_table(url, "stg_crm__contacts", contacts(10))
    assert push(sync, "m1", url).counts["created"] == 10
    execute(url, "DELETE FROM stg_crm__contacts WHERE id = '4'")
    result = push(sync, "m2", url)
    assert (result.counts["deleted"], result.counts["unchanged"]) == (1, 9)
    assert set(target_records(oa, "marketing_list_members")) == {str(i) for i in range(1, 11) if i != 4}

    execute(url, "UPDATE stg_crm__contacts SET lead_source = 'referral' WHERE id IN ('1', '2', '3')")
    before = writes(oa)
    with pytest.raises(PushError, match=r"mirror would delete 3 of 9 records \(33%\), above max_delete_share 20%"):
        push(sync, "m3", url)
    assert writes(oa) == before and len(target_records(oa, "marketing_list_members")) == 9
    assert audit(url, "m3")["status"] == "failed"
    assert rows(url, "SELECT count(*) FROM etl_push_state")[0][0] == 9


def test_dry_run_counts_and_samples_but_sends_nothing(oa, tmp_duckdb_url):
    url, sync = tmp_duckdb_url, load_syncs()["online_promotion_list"]
    put_table(url, "stg_crm__contacts", contacts(5))
    result = dry_run(sync, "d1", url)
    assert result.counts["created"] == 5 and result.status == "dry_run" and writes(oa) == 0
    sample = result.samples["create"][0]
    assert sample["contact_no"] == "1" and sample["first_name"] != "Ann1"  # personal fields shown masked
    assert rows(url, "SELECT count(*) FROM etl_push_state WHERE sync = 'online_promotion_list'") == [(0,)]


def test_rejected_personal_data_is_masked_and_credentials_never_shown(oa, tmp_duckdb_url):
    url = tmp_duckdb_url
    sync = load_syncs()["online_promotion_list"]
    people = contacts(3)
    people[1]["last_name"] = "X" * 90  # longer than the OA allows
    put_table(url, "stg_crm__contacts", people)
    push(sync, "p1", url)
    [(reason, payload)] = rows(url, "SELECT reason, payload FROM etl_push_rejects")
    assert reason == "422: last_name: is longer than 80 characters"
    assert as_json(payload) == {"list": "online-promotion", "contact_no": "2", "first_name": "A***",
                                "last_name": "X***", "country_code": "FR"}

    os.environ["AIRFLOW_CONN_OA_API"] = os.environ["AIRFLOW_CONN_TEST_OA"].replace(OA_TOKEN, "wrong-secret")
    execute(url, "UPDATE stg_crm__contacts SET first_name = 'Bo' WHERE id = '1'")
    with pytest.raises(TargetError) as err:
        push(sync, "p2", url)
    assert "401" in str(err.value) and "wrong-secret" not in str(err.value) and "oa_api" in str(err.value)
    [(error,)] = rows(url, "SELECT error FROM etl_push_runs WHERE run_id = 'p2'")
    assert "wrong-secret" not in error and "401" in error


def test_rate_limit_answers_429_and_the_push_waits_as_told(tmp_duckdb_url):
    url = tmp_duckdb_url
    put_table(url, "people", [{"id": str(i), "last_name": f"L{i}"} for i in range(16)])
    sync = sync_of(source={"table": "people"}, key=["contact_no"],
                   target={"kind": "rest", "connection": "test_oa", "path": "/api/v1/marketing_list_members/{key}",
                           "retry": {"max_attempts": 30, "backoff_s": 0.05}},
                   columns={"contact_no": {"source": "id"}, "last_name": {}, "list": {"default": "l"}})
    with oa_server(rate=4, burst=1) as srv:  # any client faster than 4 writes/s meets 429s
        result = push(sync, "r1", url)
        stats = srv.admin("/_admin/writes")
        assert result.counts["created"] == 16 and len(target_records(srv, "marketing_list_members")) == 16
    assert stats["rate_limited"] > 0 and stats["records_written"] == 16
    # Retry-After (>= 1 s, when the server has a token again) was waited out: after a 429 the next attempt
    # is admitted, so no record met two. The configured backoff (0.05 s, doubling) would have met several.
    assert stats["rate_limited"] <= 15


def test_rate_limit_per_s_from_the_yaml_paces_requests_below_the_targets_limit(tmp_duckdb_url):
    url = tmp_duckdb_url
    put_table(url, "people", [{"id": str(i), "last_name": f"L{i}"} for i in range(6)])
    sync = sync_of(source={"table": "people"}, key=["contact_no"],
                   target={"kind": "rest", "connection": "test_oa", "path": "/api/v1/marketing_list_members/{key}",
                           "rate_limit_per_s": 1},
                   columns={"contact_no": {"source": "id"}, "last_name": {}, "list": {"default": "l"}})
    with oa_server(rate=10, burst=1) as srv:  # a client at most one write per second never meets its limit
        assert push(sync, "r2", url).counts["created"] == 6
        stats = srv.admin("/_admin/writes")
    assert (stats["rate_limited"], stats["write_requests"]) == (0, 6)


KILLED_PUSH = textwrap.dedent("""
    import sys
    from etl.config.outbound import Sync
    from etl.push.run import push
    spec = {"sync": "slow", "system": "oa", "source": {"table": "people"}, "key": ["contact_no"],
            "target": {"kind": "rest", "connection": "test_oa", "path": "/api/v1/marketing_list_members/{key}",
                       "rate_limit_per_s": 40},
            "columns": {"contact_no": {"source": "id"}, "last_name": {}, "list": {"default": "l"}}}
    push(Sync.model_validate(spec), sys.argv[2], sys.argv[1])
""")


def test_sigkill_mid_push_then_rerun_loses_nothing_and_duplicates_nothing(tmp_duckdb_url):
    from etl.config.outbound import Sync

    url = tmp_duckdb_url
    put_table(url, "people", [{"id": str(i), "last_name": f"L{i}"} for i in range(300)])
    with oa_server() as srv:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-c", KILLED_PUSH, url, "killed"], env=env)
        deadline = time.monotonic() + 120
        while writes(srv) < 150 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        sent_before = srv.admin("/_admin/writes")["records_written"]
        assert 150 <= sent_before < 300  # killed in the middle
        committed = rows(url, "SELECT count(*) FROM etl_push_state")[0][0]
        assert committed >= 100  # whole chunks kept their state

        spec = {"sync": "slow", "system": "oa", "source": {"table": "people"}, "key": ["contact_no"],
                "target": {"kind": "rest", "connection": "test_oa",
                           "path": "/api/v1/marketing_list_members/{key}"},
                "columns": {"contact_no": {"source": "id"}, "last_name": {}, "list": {"default": "l"}}}
        result = push(Sync.model_validate(spec), "rerun", url)
        held = target_records(srv, "marketing_list_members")
        resent = srv.admin("/_admin/writes")["records_written"] - sent_before
    assert sorted(held, key=int) == [str(i) for i in range(300)]  # nothing missing, one record per key
    assert {r["last_name"] for r in held.values()} == {f"L{i}" for i in range(300)}
    assert resent == 300 - committed == result.counts["created"] + result.counts["updated"]
    assert rows(url, "SELECT status FROM etl_push_runs WHERE run_id = 'killed'") == [("failed",)]


def test_a_reject_share_above_the_yaml_threshold_fails_the_run_after_keeping_what_was_accepted(oa, tmp_duckdb_url):
    url = tmp_duckdb_url
    people = [{"id": str(i), "last_name": "X" * 90 if i % 5 == 0 else f"L{i}"} for i in range(25)]  # 5 refused
    put_table(url, "people", people)
    sync = sync_of(source={"table": "people"}, key=["contact_no"],
                   target={"kind": "rest", "connection": "test_oa", "path": "/api/v1/marketing_list_members/{key}",
                           "batch_path": "/api/v1/marketing_list_members/batch"},
                   columns={"contact_no": {"source": "id"}, "last_name": {}, "list": {"default": "l"}},
                   quality={"max_reject_share": 0.1})
    with pytest.raises(PushError, match=r"5 of 25 selected records \(20%\) are rejected, above max_reject_share 10%"):
        push(sync, "s1", url)
    assert len(target_records(oa, "marketing_list_members")) == 20
    assert audit(url, "s1")["status"] == "failed" and audit(url, "s1")["rejected"] == 5
    assert rows(url, "SELECT count(*) FROM etl_push_state WHERE hash IS NOT NULL") == [(20,)]
    loose = sync.model_copy(update={"quality": sync.quality.model_copy(update={"max_reject_share": 0.25})})
    assert push(loose, "s2", url).status == "success"  # the same rejects under a looser threshold
