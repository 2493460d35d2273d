"""The `etl` command line: every command with its exit code, its stdout and its stderr."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from typer.testing import CliRunner

from tests.conftest import ROOT
from tests.helpers.warehouse import rows

runner = CliRunner()


def etl(*args: str, input: str | None = None):
    from etl.cli import app

    return runner.invoke(app, list(args), input=input)


def test_console_script_help_and_usage_errors():
    exe = ROOT / ".venv" / "bin" / "etl"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    for command in ("validate", "run", "runs", "quarantine", "state", "freshness", "new"):
        assert command in out.stdout
    bad = subprocess.run([str(exe), "nonsense"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "No such command 'nonsense'" in bad.stderr and not bad.stdout


def test_validate_accepts_the_shipped_configuration():
    result = etl("validate")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok: ") and not result.stderr


def test_validate_reports_every_problem_with_file_and_line(mappings_copy, tmp_path, monkeypatch):
    contacts = mappings_copy / "crm" / "contacts.yml"
    contacts.write_text(contacts.read_text().replace("primary_key:", "primary_kee:"))
    jobs = mappings_copy / "hr" / "jobs.yml"
    jobs.write_text(jobs.read_text() + "freshness: 26 hours\n")
    suites = tmp_path / "expectations"
    shutil.copytree(ROOT / "expectations", suites)
    (suites / "stg_crm__deals.json").write_text('{"name": "stg_crm__deals",\n "expectations": [}\n')
    monkeypatch.setenv("ETL_EXPECTATIONS_DIR", str(suites))
    result = etl("validate")
    assert result.exit_code == 1
    err = result.stderr
    assert f"{contacts}:" in err and "primary_kee: unknown setting" in err
    line = len(jobs.read_text().splitlines())
    assert f"{jobs}:{line}: freshness: duration '26 hours': expected a number of days, hours and/or minutes" in err
    assert f"{suites / 'stg_crm__deals.json'}: invalid JSON at line 2" in err
    assert "3 problem(s) found" in err and not result.stdout


def test_new_scaffolds_files_that_validate_and_never_overwrites(mappings_copy, tmp_path, monkeypatch):
    suites = tmp_path / "expectations"
    shutil.copytree(ROOT / "expectations", suites)
    monkeypatch.setenv("ETL_EXPECTATIONS_DIR", str(suites))
    result = etl("new", "crm", "products")
    assert result.exit_code == 0, result.stderr
    assert f"created {mappings_copy / 'crm' / 'products.yml'}" in result.stdout
    assert json.loads((suites / "stg_crm__products.json").read_text())["name"] == "stg_crm__products"
    fresh = etl("new", "billing", "invoices", "--kind", "sql")
    assert fresh.exit_code == 0, fresh.stderr
    assert "kind: sql" in (mappings_copy / "billing" / "_system.yml").read_text()
    assert etl("validate").exit_code == 0
    again = etl("new", "crm", "products")
    assert again.exit_code == 1 and "exists already" in again.stderr
    assert etl("new", "CRM", "x y").exit_code == 1


def test_run_runs_state_quarantine_and_freshness(crm_server, tmp_duckdb_url, monkeypatch):
    monkeypatch.setenv("ETL_WAREHOUSE_URL", tmp_duckdb_url)
    assert etl("runs").stdout.strip() == "no runs recorded yet"
    unknown = etl("run", "crm", "contactz")
    assert unknown.exit_code == 2 and "no entity 'contactz'" in unknown.stderr

    result = etl("run", "crm", "owners", "contacts", "--run-id", "cli-1")
    assert result.exit_code == 0, result.stderr
    assert "crm.contacts: extracted " in result.stdout and "run cli-1: ok" in result.stdout
    assert "crm.owners extract: " in result.stderr and "rows/s" in result.stderr  # progress per batch
    listed = etl("runs", "--pipeline", "crm")
    assert listed.exit_code == 0 and "cli-1" in listed.stdout and "contacts" in listed.stdout

    shown = etl("state", "show", "crm")
    assert shown.exit_code == 0 and "crm_sync  contacts" in shown.stdout
    bad = etl("state", "reset", "crm", "contacts", "--to", "yesterday", "--yes")
    assert bad.exit_code == 2 and "expected an ISO date" in bad.stderr
    declined = etl("state", "reset", "crm", "contacts", input="n\n")
    assert declined.exit_code == 1 and "nothing changed" in declined.stderr
    moved = etl("state", "reset", "crm", "contacts", "--to", "2020-01-01", "--yes")
    assert moved.exit_code == 0 and moved.stdout.strip().endswith("-> 2020-01-01T00:00:00.000Z")
    assert rows(tmp_duckdb_url, "SELECT watermark FROM etl_state WHERE entity = 'contacts'") == \
        [("2020-01-01T00:00:00.000Z",)]
    forgot = etl("state", "reset", "crm", "contacts", "-y")
    assert forgot.exit_code == 0 and "none (full read next run)" in forgot.stdout

    quarantined = rows(tmp_duckdb_url, "SELECT count(*) FROM etl_quarantine WHERE entity = 'contacts'")[0][0]
    listing = etl("quarantine", "list", "crm", "contacts", "-n", "1000")
    assert listing.exit_code == 0 and len(listing.stdout.strip().splitlines()) == quarantined + 1
    assert "expect_column_values_to_match_regex" in listing.stdout
    replayed = etl("quarantine", "replay", "crm", "contacts")
    assert replayed.exit_code == 0, replayed.stderr
    assert f"{quarantined} rows replayed: released 0" in replayed.stdout  # nothing was fixed

    fresh = etl("freshness")
    assert fresh.exit_code == 1  # erp, hr and oa never loaded into this warehouse
    assert "ok     crm_sync.contacts: last success" in fresh.stdout
    assert "STALE  hr_sync.jobs: last success never loaded" in fresh.stdout


def test_module_entry_points_never_act_on_help(tmp_path):
    env_cwd = {"cwd": tmp_path, "capture_output": True, "text": True, "timeout": 300}
    docs = subprocess.run([sys.executable, "-m", "etl.models.docs", "--help"], **env_cwd)
    assert docs.returncode == 0 and "usage:" in docs.stdout and not (tmp_path / "--help").exists()
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    env.pop("AIRFLOW_HOME", None)
    demo = subprocess.run([sys.executable, "-m", "demo.run_demo", "--help"], env=env, **env_cwd)
    assert demo.returncode == 0 and "usage: python -m demo.run_demo" in demo.stdout
    assert not (tmp_path / "airflow").exists() and "warehouse:" not in demo.stdout


def test_push_list_dry_run_and_unknown_sync(tmp_duckdb_url, monkeypatch):
    from tests.helpers.push import oa_server, put_table, writes

    monkeypatch.setenv("ETL_WAREHOUSE_URL", tmp_duckdb_url)
    listed = etl("push", "list")
    assert listed.exit_code == 0 and "online_promotion_list" in listed.stdout
    unknown = etl("push", "dry-run", "no_such_sync")
    assert unknown.exit_code == 2 and "no outbound sync 'no_such_sync'" in unknown.stderr
    put_table(tmp_duckdb_url, "stg_crm__contacts", [
        {"id": str(i), "first_name": f"Ann{i}", "last_name": f"Lee{i}", "country": "France",
         "lead_source": "online_promotion"} for i in range(1, 4)])
    with oa_server() as srv:
        import os

        monkeypatch.setenv("AIRFLOW_CONN_OA_API", os.environ["AIRFLOW_CONN_TEST_OA"])
        result = etl("push", "dry-run", "online_promotion_list", "--samples", "1")
        assert writes(srv) == 0  # a dry run never calls the target
    assert result.exit_code == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("online_promotion_list dry_run (dry_run__cli__") and "created 3" in first
    assert result.stdout.count("  create: ") == 1 and "Ann1" not in result.stdout  # personal fields masked
