"""ETL_STAGING_URL=s3://...: the hand-off between steps and the OA landing folder in an S3-compatible store
(moto's server mode as a separate process), loading exactly what the local-folder default loads.

- A CRM entity step by step: its run files are objects in the bucket between the steps (nothing under the
  local data dir), gone after the load, and the warehouse equals a run staged on local disk.
- The OA system from a landing folder in the bucket: loaded like a local drop, files moved to
  `processed/` and `rejected/` (with the reason) inside the bucket.
- The landing trigger announces a file that lands in the bucket while it watches.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from demo.oa_files import bad_files, redeliver, write_oa_drop
from etl.config.loader import load_system, mappings_dir
from etl.steps import RunContext, extract, load, run_entity, transform, validate
from tests.helpers.s3 import clear_caches, keys, moto_s3
from tests.helpers.warehouse import table_snapshot

RUN_SPECIFIC = ("_loaded_at", "_run_id", "extras")


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> Iterator[dict[str, str]]:
    with moto_s3(tmp_path_factory.mktemp("moto") / "moto.log") as env:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            clear_caches()


def _staged_on_s3(monkeypatch, s3: dict, prefix: str) -> str:
    url = f"s3://{s3['ETL_TEST_S3_BUCKET']}/{prefix}"
    monkeypatch.setenv("ETL_STAGING_URL", url)
    return url


def test_a_crm_entity_hands_off_through_the_bucket(s3, crm_server, tmp_path, monkeypatch):
    monkeypatch.setenv("ETL_DATA_DIR", str(tmp_path / "var"))
    entity = load_system(mappings_dir() / "crm").entities["contacts"]
    local_url = f"duckdb:///{tmp_path / 'local.duckdb'}"
    monkeypatch.delenv("ETL_STAGING_URL", raising=False)
    run_entity(entity, RunContext(run_id="local", warehouse_url=local_url))

    _staged_on_s3(monkeypatch, s3, "crm-test")
    monkeypatch.setenv("ETL_DATA_DIR", str(tmp_path / "var-s3"))
    s3_url = f"duckdb:///{tmp_path / 's3.duckdb'}"
    ctx = RunContext(run_id="s3 run", warehouse_url=s3_url)
    ex = extract(entity, ctx)
    tr = transform(entity, ctx)
    va = validate(entity, ctx, ex)
    endpoint, bucket = s3["AWS_ENDPOINT_URL"], s3["ETL_TEST_S3_BUCKET"]
    staged = keys(endpoint, f"{bucket}/crm-test/runs/{entity.pipeline}/s3_run/contacts")
    stages = {k.split("/")[-2] for k in staged}
    assert ex.extracted > 0 and {"raw", "mapped", "valid"} <= stages, staged
    assert not (tmp_path / "var-s3").exists(), "run files must not touch the local disk"
    load(entity, ctx, ex, tr, va)
    assert keys(endpoint, f"{bucket}/crm-test/runs") == []

    assert table_snapshot(s3_url, entity.target, RUN_SPECIFIC) == \
        table_snapshot(local_url, entity.target, RUN_SPECIFIC)


def _sync_oa(url: str, run_id: str) -> None:
    for entity in load_system(mappings_dir() / "oa").entities.values():
        run_entity(entity, RunContext(run_id=run_id, warehouse_url=url))


def test_the_oa_landing_folder_in_the_bucket(s3, tmp_path, monkeypatch):
    monkeypatch.setenv("ETL_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("ETL_STAGING_URL", raising=False)
    local_url = f"duckdb:///{tmp_path / 'local.duckdb'}"
    write_oa_drop(tmp_path / "var" / "oa" / "landing", bad=True)
    _sync_oa(local_url, "local")

    staging_url = _staged_on_s3(monkeypatch, s3, "oa-test")
    s3_url = f"duckdb:///{tmp_path / 's3.duckdb'}"
    dropped = write_oa_drop(f"{staging_url}/oa/landing", bad=True)
    assert str(dropped[0]).startswith(f"{staging_url}/oa/landing/")
    _sync_oa(s3_url, "s3")

    for entity in load_system(mappings_dir() / "oa").entities.values():
        snapshot = table_snapshot(s3_url, entity.target, RUN_SPECIFIC)
        assert snapshot and snapshot == table_snapshot(local_url, entity.target, RUN_SPECIFIC), entity.target
    landing = f"{s3['ETL_TEST_S3_BUCKET']}/oa-test/oa/landing"
    found = [k.removeprefix(landing + "/") for k in keys(s3["AWS_ENDPOINT_URL"], landing)]
    assert not [k for k in found if "/" not in k], found  # nothing left waiting
    bad = set(bad_files())
    assert {k.removeprefix("processed/") for k in found if k.startswith("processed/")} == \
        {p.name for p in dropped} - bad
    rejected = {k.removeprefix("rejected/") for k in found if k.startswith("rejected/")}
    assert rejected == bad | {f"{name}.reason.txt" for name in bad}
    assert keys(s3["AWS_ENDPOINT_URL"], f"{s3['ETL_TEST_S3_BUCKET']}/oa-test/runs") == []


def test_the_landing_trigger_sees_a_file_land_in_the_bucket(s3, monkeypatch):
    from etl.orchestration.triggers import LandingFileTrigger

    staging_url = _staged_on_s3(monkeypatch, s3, "trigger-test")
    redeliver(f"{staging_url}/oa/landing", "approvals_1.csv")  # waiting before the watch starts

    async def watch() -> list[dict]:
        events = LandingFileTrigger(folder="oa/landing", pattern="approvals_*.csv", poll_s=0.3).run()
        first = await asyncio.wait_for(anext(events), 60)
        await asyncio.to_thread(redeliver, f"{staging_url}/oa/landing", "approvals_2.csv")
        second = await asyncio.wait_for(anext(events), 60)
        await events.aclose()
        return [first.payload, second.payload]

    first, second = asyncio.run(watch())
    assert first["files"] == ["approvals_1.csv"] and second["files"] == ["approvals_2.csv"]
