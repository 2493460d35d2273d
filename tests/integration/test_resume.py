"""An entity's task runs its four steps in one process; a retry resumes after the last step that finished.

The first try is killed outright (SIGKILL, as an OOM kill or a lost worker would) right after transform.
The retry then runs with a token the CRM refuses: if it extracted again it would fail with HTTP 401, so
its success proves it resumed from the staged files. A retry after the load committed returns the
committed counts and writes nothing; a retry under a changed mapping starts over.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from etl import steps
from etl.config.loader import load_system, mappings_dir
from tests.conftest import CRM_TOKEN, ROOT
from tests.helpers.warehouse import assert_invariant, rows, runs

KILLED_AFTER_TRANSFORM = textwrap.dedent("""
    import os, signal, sys
    from etl import steps
    from etl.config.loader import load_system, mappings_dir

    def killed(*args, **kwargs):  # the process dies between transform and validate
        os.kill(os.getpid(), signal.SIGKILL)

    steps.validate = killed
    entity = load_system(mappings_dir() / "crm").entities["contacts"]
    steps.run_entity(entity, steps.RunContext(run_id="resume-1", warehouse_url=sys.argv[1]))
""")


@pytest.fixture
def killed_run(crm_server, tmp_duckdb_url, tmp_path, monkeypatch):
    """A first try of run `resume-1` killed after transform; then the CRM refuses the token."""
    monkeypatch.setenv("ETL_DATA_DIR", str(tmp_path / "var"))
    first = subprocess.run([sys.executable, "-c", KILLED_AFTER_TRANSFORM, tmp_duckdb_url], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == -9, first.stderr[-3000:]
    assert runs(tmp_duckdb_url, "resume-1")["contacts"]["status"] == "running"  # nothing was committed
    monkeypatch.setenv("AIRFLOW_CONN_CRM_API", crm_server_url(crm_server, "refused-token"))
    return load_system(mappings_dir() / "crm").entities["contacts"], steps.RunContext(
        run_id="resume-1", warehouse_url=tmp_duckdb_url)


def crm_server_url(server, token: str) -> str:
    return f"http://:{token}@{server.url.removeprefix('http://')}"


def test_a_retry_after_a_kill_resumes_after_transform_without_extracting_again(killed_run, crm_server):
    entity, ctx = killed_run
    result = steps.run_entity(entity, ctx)  # would raise HttpError 401 if it extracted again
    audit = runs(ctx.warehouse_url, "resume-1")["contacts"]
    assert audit["status"] == "success" and audit["error"] is None
    assert_invariant(audit)
    expected = crm_server.admin("stats")["contacts"]
    assert result["extracted"] == audit["extracted"] == expected
    assert rows(ctx.warehouse_url, "SELECT count(*) FROM stg_crm__contacts") == [(result["inserted"],)]


def test_a_retry_after_the_commit_returns_the_committed_counts_and_writes_nothing(killed_run):
    entity, ctx = killed_run
    first = steps.run_entity(entity, ctx)
    before = audit_row(ctx.warehouse_url)
    quarantined = rows(ctx.warehouse_url, "SELECT count(*) FROM etl_quarantine")

    again = steps.run_entity(entity, ctx)  # e.g. the worker died after the commit, before reporting success
    assert audit_row(ctx.warehouse_url) == before  # the audit row is not rewritten, not even its times
    assert before[3] == "success"
    assert rows(ctx.warehouse_url, "SELECT count(*) FROM etl_quarantine") == quarantined
    assert {k: again[k] for k in ("extracted", "quarantined", "inserted", "updated", "unchanged", "watermark_to")} \
        == {k: first[k] for k in ("extracted", "quarantined", "inserted", "updated", "unchanged", "watermark_to")}


def audit_row(url: str) -> tuple:
    return rows(url, "SELECT * FROM etl_runs WHERE run_id = 'resume-1' AND entity = 'contacts'")[0]


def test_a_retry_under_a_changed_mapping_starts_over(killed_run):
    """Staged results made with another version of the entity are not reused: the step reruns (and here,
    with the refused token, the extract fails as it must)."""
    from etl.sources.http import HttpError

    entity, ctx = killed_run
    changed = entity.model_copy(update={"description": "fixed since the first try"})
    with pytest.raises(HttpError, match="401"):
        steps.run_entity(changed, ctx)
    assert CRM_TOKEN != "refused-token"
