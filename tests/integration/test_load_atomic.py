"""A load that fails half-way leaves nothing behind, and the same run resumes from its staged files."""

from __future__ import annotations

import pytest

from etl import steps
from etl.config.loader import load_system, mappings_dir
from tests.helpers.warehouse import assert_invariant, rows, runs


def test_failed_load_commits_nothing_and_the_retry_completes(crm_server, tmp_duckdb_url, monkeypatch):
    entity = load_system(mappings_dir() / "crm").entities["contacts"]
    ctx = steps.RunContext(run_id="crash-1", warehouse_url=tmp_duckdb_url)
    ex = steps.extract(entity, ctx)
    tr = steps.transform(entity, ctx)
    va = steps.validate(entity, ctx, ex)

    def crash(*_args):
        raise RuntimeError("power cut between the merge and the audit row")

    with monkeypatch.context() as patch:
        patch.setattr(steps.state, "write_watermark", crash)
        with pytest.raises(RuntimeError, match="power cut"):
            steps.load(entity, ctx, ex, tr, va)
    assert rows(tmp_duckdb_url, "SELECT count(*) FROM etl_quarantine") == [(0,)]
    assert rows(tmp_duckdb_url, "SELECT count(*) FROM etl_state") == [(0,)]
    assert rows(tmp_duckdb_url, "SELECT count(*) FROM information_schema.tables "
                                "WHERE table_name = 'stg_crm__contacts'") == [(0,)]
    failed = runs(tmp_duckdb_url, "crash-1")["contacts"]
    assert failed["status"] == "failed" and "power cut" in failed["error"]

    result = steps.load(entity, ctx, ex, tr, va)  # the task's retry: same run, same files
    done = runs(tmp_duckdb_url, "crash-1")["contacts"]
    assert done["status"] == "success" and done["error"] is None
    assert_invariant(done)
    assert rows(tmp_duckdb_url, "SELECT count(*) FROM stg_crm__contacts") == [(result["inserted"],)]
    assert rows(tmp_duckdb_url, "SELECT count(*) FROM etl_quarantine") == [(result["quarantined"],)]


def test_rows_without_a_primary_key_are_quarantined_even_without_a_suite_rule(tmp_path, tmp_duckdb_url,
                                                                              monkeypatch):
    """A file entity whose suite does not check the key: the keyless row is refused, the rest load."""
    import json

    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "people_1.csv").write_text("id,name\n1,Ann\n,Bob\n3,Cy\n")
    suites, maps = tmp_path / "suites", tmp_path / "mappings" / "t"
    suites.mkdir()
    maps.mkdir(parents=True)
    (suites / "stg_t__people.json").write_text(json.dumps({"name": "stg_t__people", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name"}}]}))
    (maps / "_system.yml").write_text(f"system: t\ndefaults:\n  source: {{kind: files, landing: {landing}}}\n")
    (maps / "people.yml").write_text(
        "primary_key: [id]\nsource: {pattern: 'people_*.csv', format: csv}\n"
        "columns:\n  id: {type: integer}\n  name: {}\n  source_file: {source: _file}\n")
    monkeypatch.setenv("ETL_EXPECTATIONS_DIR", str(suites))
    monkeypatch.setenv("ETL_MAPPINGS_DIR", str(tmp_path / "mappings"))
    entity = load_system(maps).entities["people"]
    result = steps.run_entity(entity, steps.RunContext(run_id="keys-1", warehouse_url=tmp_duckdb_url))
    assert (result["inserted"], result["quarantined"]) == (2, 1)
    assert rows(tmp_duckdb_url, "SELECT failed_rule, reason FROM etl_quarantine") == [
        ("primary_key_not_null", "primary key (id) is missing")]
