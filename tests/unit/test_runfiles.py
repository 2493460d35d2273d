"""Run files: where ETL_STAGING_URL puts them, encrypted and private on local disk, gone after the load
and swept after the retention period when a killed run left them behind."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pyarrow as pa
import pytest

from etl import runfiles, staging


@pytest.fixture
def staged(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ETL_STAGING_URL", str(tmp_path / "staging"))
    monkeypatch.setattr(runfiles, "_last_sweep", 0.0)
    return tmp_path / "staging"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_is_the_local_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("ETL_STAGING_URL", raising=False)
    monkeypatch.setenv("ETL_DATA_DIR", str(tmp_path))
    assert staging.root() == tmp_path
    assert runfiles.entity_dir("crm", "manual__2026-01-01T00:00:00+00:00", "contacts") == \
        tmp_path / "runs" / "crm" / "manual__2026-01-01T00_00_00_00_00" / "contacts"


@pytest.mark.parametrize("url,remote", [("s3://bucket/etl", True), ("gs://b/p", True), ("memory://x", True),
                                        ("file:///tmp/etl", False), ("/tmp/etl", False), ("var", False),
                                        ("C:/data", False)])
def test_remote_urls_are_told_from_local_paths(url, remote):
    assert staging.is_remote_url(url) is remote


def test_landing_folders_resolve_inside_the_staging_location(staged):
    from etl.sources.files import landing_dir

    assert landing_dir("oa/landing") == staged / "oa" / "landing"
    assert landing_dir("/srv/drops") == Path("/srv/drops")
    assert str(landing_dir("s3://drops/oa")) == "s3://drops/oa"


def test_run_files_are_private_and_read_back(staged):
    folder = runfiles.entity_dir("crm", "run 1", "contacts") / "raw"
    files, rows = runfiles.write_parts(folder, [pa.table({"email": ["a@x.io", "b@x.io"]}),
                                                pa.table({"email": ["c@x.io"]})])
    assert (files, rows) == (2, 3)
    parts = runfiles.part_paths(folder)
    assert [p.name for p in parts] == ["part-00000.arrow", "part-00001.arrow"]
    assert all(_mode(p) == 0o600 for p in parts)
    for level in (staged / "runs", staged / "runs" / "crm", folder.parent, folder):
        assert _mode(level) == 0o700, level
    assert [t.num_rows for _, t in runfiles.read_parts(folder)] == [2, 1]


def test_run_files_hold_no_readable_personal_data_and_need_the_deployment_key(staged, monkeypatch):
    monkeypatch.setenv("ETL_QUARANTINE_KEY", "key-one")
    folder = runfiles.entity_dir("crm", "run 2", "contacts") / "raw"
    rows = pa.table({"email": ["jane.doe@example.com"] * 50, "phone": ["+4930123456"] * 50})
    runfiles.write_parts(folder, [rows])
    (part,) = runfiles.part_paths(folder)
    raw = part.read_bytes()
    assert b"jane.doe" not in raw and b"4930123456" not in raw and b"email" not in raw  # values and schema
    assert runfiles.read_part(part).equals(rows)

    monkeypatch.setenv("ETL_QUARANTINE_KEY", "key-two")  # another deployment's key
    with pytest.raises(ValueError, match="ETL_QUARANTINE_KEY") as err:
        runfiles.read_part(part)
    assert "key-one" not in str(err.value) and "key-two" not in str(err.value)

    monkeypatch.setenv("ETL_QUARANTINE_KEY", "key-one")
    altered = bytearray(raw)
    altered[-1] ^= 1
    part.write_bytes(bytes(altered))
    with pytest.raises(ValueError, match="altered"):
        runfiles.read_part(part)


def test_a_retried_writer_starts_clean_and_remove_leaves_nothing(staged):
    folder = runfiles.entity_dir("crm", "r", "deals") / "raw"
    runfiles.write_parts(folder, [pa.table({"a": [1]})] * 3)
    runfiles.write_parts(folder, [pa.table({"a": [1]})])
    assert len(runfiles.part_paths(folder)) == 1
    runfiles.remove("crm", "r", "deals")
    assert not (staged / "runs" / "crm" / "r").exists()  # the run folder went with its last entity


def _age(folder: Path, hours: float) -> None:
    then = time.time() - hours * 3600
    for dirpath, dirs, files in os.walk(folder):
        for name in files + dirs:
            os.utime(os.path.join(dirpath, name), (then, then))
    os.utime(folder, (then, then))


def test_sweep_removes_what_killed_runs_left_after_the_retention(staged, monkeypatch):
    monkeypatch.setenv(runfiles.RETENTION_ENV, "24")
    old, fresh = runfiles.entity_dir("crm", "old", "contacts"), runfiles.entity_dir("crm", "fresh", "contacts")
    runfiles.write_parts(old / "raw", [pa.table({"a": [1]})])
    runfiles.write_parts(fresh / "raw", [pa.table({"a": [1]})])
    empty = staged / "runs" / "erp" / "empty-old"
    empty.mkdir(parents=True)
    _age(old.parent, 30)
    _age(empty, 30)
    young = runfiles.entity_dir("crm", "young", "contacts")
    runfiles.write_parts(young / "raw", [pa.table({"a": [1]})])
    _age(young.parent, 20)  # inside the retention: may be a long run still going

    assert sorted(runfiles.sweep()) == ["crm/old", "erp/empty-old"]
    assert not old.parent.exists() and not empty.exists()
    assert fresh.exists() and young.exists()


def test_the_first_writer_of_a_process_sweeps(staged, monkeypatch):
    leftover = runfiles.entity_dir("hr", "killed", "employees") / "raw"
    runfiles.write_parts(leftover, [pa.table({"a": [1]})])
    _age(leftover.parent.parent, 100)
    monkeypatch.setattr(runfiles, "_last_sweep", 0.0)
    runfiles.PartWriter(runfiles.entity_dir("hr", "next", "employees") / "raw")
    assert not leftover.parent.parent.exists()


@pytest.mark.parametrize("value", ["0", "-1", "two days"])
def test_a_bad_retention_is_refused(monkeypatch, value):
    monkeypatch.setenv(runfiles.RETENTION_ENV, value)
    with pytest.raises(ValueError, match=runfiles.RETENTION_ENV):
        runfiles.retention_hours()


def test_a_step_result_is_private_and_reads_back(staged):
    folder = runfiles.entity_dir("crm", "r", "contacts")
    assert runfiles.read_result(folder, "extract") is None
    runfiles.write_result(folder, "extract", {"extracted": 3})
    assert runfiles.read_result(folder, "extract") == {"extracted": 3}
    assert _mode(folder / "extract.json") == 0o600
    (folder / "transform.json").write_text('{"half')
    assert runfiles.read_result(folder, "transform") is None
