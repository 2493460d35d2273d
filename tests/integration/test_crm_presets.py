"""Each CRM preset (presets/<crm>/) synced as a user would run it, against a local server written from
that vendor's public API reference (tests/crm_servers/): the folder copied into a mappings dir, the
connection set, two runs. The first reads every record; after about 1% of the records change, the
second reads about that 1% (the boundary records at the watermark are read again and count as
unchanged), and the conformed core tables hold every record tagged with its source system."""

from __future__ import annotations

import os
import shutil
from contextlib import ExitStack
from pathlib import Path

import pytest

from etl.config.loader import load_system
from etl.models.conform import CONTRACT, conformed_sql
from tests.crm_servers import VENDORS, start_vendor
from tests.helpers.warehouse import assert_invariant, rows

PRESETS = sorted(VENDORS)
# Faults each vendor's server adds to the rate-limit answers: Salesforce query locators that expire
# after one page (the preset's restart_on rule must recover without loss or duplicate).
FAULTS = {"salesforce": {"locator_life": 1}}


@pytest.fixture
def preset_env(tmp_path, monkeypatch):
    """A mappings dir holding only the copied preset, and the connection a user would set."""

    with ExitStack() as stack:

        def make(crm: str, **server_options):
            shutil.copytree(f"presets/{crm}", tmp_path / "mappings" / crm)
            monkeypatch.setenv("ETL_MAPPINGS_DIR", str(tmp_path / "mappings"))
            return stack.enter_context(start_vendor(crm, monkeypatch, **server_options))

        yield make


def _sync(crm: str, url: str, run_id: str) -> dict:
    from etl.steps import RunContext, run_entity

    entities = load_system(Path(os.environ["ETL_MAPPINGS_DIR"]) / crm).entities
    return {name: run_entity(e, RunContext(run_id=run_id, warehouse_url=url)) for name, e in entities.items()}


@pytest.mark.parametrize("crm", PRESETS)
def test_preset_syncs_incrementally_and_feeds_the_conformed_model(crm, preset_env, tmp_duckdb_url) -> None:
    vendor = preset_env(crm, rate_limit_every=5, **FAULTS.get(crm, {}))
    store, api = vendor.store, vendor.api
    cfg = load_system(Path(os.environ["ETL_MAPPINGS_DIR"]) / crm)
    objects = {e.conform.table: name for name, e in cfg.entities.items()}

    first = _sync(crm, tmp_duckdb_url, "run-1")
    for name, res in first.items():
        assert_invariant(res)
        table = cfg.entities[name].conform.table
        assert res["inserted"] == len(store.objects[table]), (name, res)
        assert res["quarantined"] == 0, (name, res)
    assert api.rate_limited_answers > 0  # the vendor's rate-limit answer was met and retried
    assert getattr(api, "expired", 1) > 0  # and expired cursors, where the vendor has them

    touched = store.touch(0.01)
    second = _sync(crm, tmp_duckdb_url, "run-2")
    read_first = sum(r["extracted"] for r in first.values())
    read_second = sum(r["extracted"] for r in second.values())
    for name, res in second.items():
        assert_invariant(res)
        table = cfg.entities[name].conform.table
        assert res["inserted"] == 0 and res["updated"] == touched[table], (name, res, touched)
    full_reads = sum(len(store.objects[t]) for t, n in objects.items() if vendor.full_read(t))
    assert read_second - full_reads <= sum(touched.values()) + 3 * len(second), (read_second, touched)
    assert read_second <= 0.05 * read_first

    for table in objects:  # the conformed model: every record, tagged with the preset's system
        entities = [e for e in cfg.entities.values() if e.conform.table == table]
        got = rows(tmp_duckdb_url, f"SELECT source_system, count(*) FROM ({conformed_sql(table, entities)}) t "
                                   "GROUP BY source_system")
        assert got == [(crm, len(store.objects[table]))]
    if "deals" in objects:
        deals = [e for e in cfg.entities.values() if e.conform.table == "deals"]
        won, closed, amount = rows(tmp_duckdb_url, "SELECT count(*) FILTER (WHERE is_won), "
                                   "count(*) FILTER (WHERE is_closed), sum(amount) "
                                   f"FROM ({conformed_sql('deals', deals)}) t")[0]
        assert won == sum(d["won"] for d in store.objects["deals"])
        assert closed == sum(d["closed"] for d in store.objects["deals"])
        assert float(amount) == pytest.approx(sum(float(d["amount"]) for d in store.objects["deals"]))
    assert set(CONTRACT) >= set(objects)
