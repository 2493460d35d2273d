"""A push-state commit that fails while the delivery goes on (the warehouse went away for a moment).

Delivery keeps the target busy while a committer thread writes the push state of checked chunks
(etl/push/commit.py, Checkpoints). When one of those commits fails, the run must stop and say why,
record itself as failed, and leave no state for a record the target does not hold; the rerun delivers
what lacks state again (by external id: no duplicate at the target) and reconciles; the run after that
sends nothing. The failure is injected into the product's own commit function: a real warehouse
outage cannot be timed to the third of many checkpoints.
"""

from __future__ import annotations

import pytest

from etl.push import commit as commit_module
from etl.push.run import push
from tests.helpers.push import oa_server, put_table, sync_of, target_records, writes
from tests.helpers.warehouse import rows

N = 450  # five chunks of 100 single writes, so five checkpoints: the third fails


def _sync():
    return sync_of(source={"table": "people"}, key=["contact_no"],
                   target={"kind": "rest", "connection": "test_oa", "path": "/api/v1/marketing_list_members/{key}"},
                   columns={"contact_no": {"source": "id"}, "last_name": {}, "list": {"default": "l"}})


def _status(url: str, run_id: str) -> tuple:
    return rows(url, "SELECT status, selected, created, updated, unchanged, rejected, error FROM etl_push_runs "
                     "WHERE run_id = :r", r=run_id)[0]


def test_a_failed_background_commit_stops_the_run_and_the_rerun_heals(tmp_duckdb_url, monkeypatch):
    url = tmp_duckdb_url
    put_table(url, "people", [{"id": str(i), "last_name": f"L{i}"} for i in range(1, N + 1)])
    real, calls = commit_module.commit, []

    def failing_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("warehouse connection lost (injected)")
        return real(*args, **kwargs)

    monkeypatch.setattr(commit_module, "COMMIT_EVERY_S", 0.0)  # every checked chunk is a checkpoint
    monkeypatch.setattr(commit_module, "commit", failing_third)
    sync = _sync()
    with oa_server() as srv:
        with pytest.raises(Exception, match="warehouse connection lost"):
            push(sync, "f1", url)
        assert len(calls) >= 3
        status, *_ , error = _status(url, "f1")
        assert status == "failed" and "warehouse connection lost" in (error or "")
        held = target_records(srv, "marketing_list_members")
        stated = {k for (k,) in rows(url, "SELECT key FROM etl_push_state WHERE sync = :s AND hash IS NOT NULL",
                                     s=sync.sync)}
        assert stated <= set(held), "push state names a record the target does not hold"
        assert len(stated) < N  # the failed checkpoint's records have no state

        monkeypatch.setattr(commit_module, "commit", real)
        before = writes(srv)
        healed = push(sync, "f2", url)
        status, selected, created, updated, unchanged, rejected, _ = _status(url, "f2")
        assert status == "success" and selected == N == created + updated + unchanged + rejected and rejected == 0
        assert 0 < writes(srv) - before <= N - len(stated)  # only records without state went again
        held = target_records(srv, "marketing_list_members")
        assert sorted(held, key=int) == [str(i) for i in range(1, N + 1)]  # each record once, by its key
        assert healed.counts["unchanged"] == len(stated)

        before = writes(srv)
        push(sync, "f3", url)
        assert writes(srv) == before  # nothing left to send
