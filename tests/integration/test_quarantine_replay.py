"""Quarantine replay after a fix: rows that now pass are merged and leave the quarantine (history
kept), the rest stay with their new reason, and the replay run keeps the audit invariant."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import ROOT
from tests.helpers.pipeline import sync_system
from tests.helpers.warehouse import assert_invariant, rows, runs


@pytest.fixture
def relaxed_suite(tmp_path, monkeypatch):
    """The 'fix': the e-mail rule turns out to be wrong for this company, so it is dropped."""
    folder = tmp_path / "expectations"
    shutil.copytree(ROOT / "expectations", folder)
    path = folder / "stg_crm__contacts.json"
    suite = json.loads(path.read_text())
    suite["expectations"] = [e for e in suite["expectations"] if e["kwargs"].get("column") != "email"]
    path.write_text(json.dumps(suite))
    return lambda: monkeypatch.setenv("ETL_EXPECTATIONS_DIR", str(folder))


def _open(url: str) -> dict[str, str]:
    return dict(rows(url, "SELECT primary_key, failed_rule FROM etl_quarantine "
                          "WHERE entity = 'contacts' AND replayed_at IS NULL"))


def test_replay_releases_fixed_rows_and_keeps_the_rest(crm_server, tmp_duckdb_url, relaxed_suite):
    from etl.config.loader import load_system, mappings_dir
    from etl.quality.replay import replay

    dirty = crm_server.admin("/_admin/dirty")["contacts"]
    archived = {d["id"] for d in dirty if d["kind"] == "archived"}
    emails = {d["id"] for d in dirty if d["kind"] == "malformed_email"} - archived
    phones = {d["id"] for d in dirty if d["kind"] == "malformed_phone"} - archived - emails
    assert emails and phones

    sync_system("crm", tmp_duckdb_url, "run-1", only=("contacts",))
    before = _open(tmp_duckdb_url)
    assert emails | phones <= set(before)
    loaded_before = rows(tmp_duckdb_url, "SELECT count(*) FROM stg_crm__contacts")[0][0]

    relaxed_suite()
    entity = load_system(mappings_dir() / "crm").entities["contacts"]
    result = replay(entity, tmp_duckdb_url, run_id="replay-1")

    run = runs(tmp_duckdb_url, "replay-1")["contacts"]
    assert run["status"] == "success" and run["extracted"] == len(before)
    assert_invariant(run)
    assert run["inserted"] == len(emails) == result["released"]
    after = _open(tmp_duckdb_url)
    assert set(after) == phones  # still quarantined, now under the replay run with the current reason
    still = rows(tmp_duckdb_url, "SELECT DISTINCT run_id FROM etl_quarantine WHERE replayed_at IS NULL")
    assert still == [("replay-1",)]
    assert set(after.values()) == {"expect_column_values_to_match_regex(phone)"}
    history = dict(rows(tmp_duckdb_url, "SELECT primary_key, replay_outcome FROM etl_quarantine "
                                        "WHERE run_id = 'run-1' AND replay_run_id = 'replay-1'"))
    assert set(history) == set(before)  # every original row is kept, marked with what became of it
    assert {k for k, o in history.items() if o == "loaded"} == emails
    assert {k for k, o in history.items() if o == "quarantined"} == phones
    released = rows(tmp_duckdb_url, "SELECT id, _run_id FROM stg_crm__contacts WHERE _run_id = 'replay-1'")
    assert {r[0] for r in released} == emails
    assert rows(tmp_duckdb_url, "SELECT count(*) FROM stg_crm__contacts")[0][0] == loaded_before + len(emails)

    again = replay(entity, tmp_duckdb_url, run_id="replay-2")  # nothing new fixed: nothing released
    assert (again["extracted"], again["released"], again["quarantined"]) == (len(phones), 0, len(phones))
    assert_invariant(runs(tmp_duckdb_url, "replay-2")["contacts"])


def test_a_replayed_row_never_overwrites_a_newer_version(crm_server, tmp_duckdb_url, relaxed_suite):
    """The source fixed the record itself and the next sync loaded it: the old version is superseded."""
    from etl.config.loader import load_system, mappings_dir
    from etl.quality.replay import replay
    from tests.helpers.warehouse import rows as q

    sync_system("crm", tmp_duckdb_url, "run-1", only=("contacts",))
    key = sorted(_open(tmp_duckdb_url))[0]
    # what a later sync of the corrected record does: the key lands with a later _loaded_at
    import sqlalchemy as sa

    from etl.load.warehouse import engine_for

    with engine_for(tmp_duckdb_url).begin() as conn:
        conn.execute(sa.text("INSERT INTO stg_crm__contacts (id, _run_id, _loaded_at) "
                             "VALUES (:k, 'run-2', now()::TIMESTAMP + INTERVAL 1 HOUR)"), {"k": key})
    relaxed_suite()
    entity = load_system(mappings_dir() / "crm").entities["contacts"]
    replay(entity, tmp_duckdb_url, run_id="replay-1")
    assert q(tmp_duckdb_url, "SELECT _run_id FROM stg_crm__contacts WHERE id = :k", k=key) == [("run-2",)]
    assert q(tmp_duckdb_url, "SELECT replay_outcome FROM etl_quarantine WHERE primary_key = :k AND run_id = 'run-1'",
             k=key) == [("superseded",)]
    assert_invariant(runs(tmp_duckdb_url, "replay-1")["contacts"])
