"""SIGKILL in the middle of a push into a SQL table, then rerun: every record once, nothing missing.

The dangerous moment is a record the target committed while its push state did not (state commits
every `COMMIT_EVERY_S` seconds, the target per chunk): the rerun sees no state and plans a create. A
plain INSERT would then hit the UNIQUE key (a reject) or, without one, write a duplicate; the upsert
on the key column updates the row the killed run wrote, keeping the ERP's own order number. The test
waits for exactly that moment (rows in the target without state), kills the process, and checks the
target itself: each deal once, the order numbers from before the kill unchanged, state naming every
order number, the killed run marked failed and the rerun reconciling to the record.

The ERP is PostgreSQL (a database of its own beside the PostgreSQL warehouse, so the test can read
state and target while the push runs) and its intake is made slow by a trigger (20 ms a row), so the
kill lands mid-delivery on any machine without timing assumptions.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from etl.config.outbound import Sync
from etl.push.run import push
from tests.conftest import ROOT, pg_sibling_database, reset_pg
from tests.helpers.push import put_table
from tests.helpers.warehouse import rows

N = 300
SPEC = {"sync": "slow_orders", "system": "erp", "source": {"table": "deals"}, "key": ["crm_deal_id"],
        "target": {"kind": "sql", "connection": "test_erp", "table": "sales_orders", "key_column": "crm_deal_id",
                   "id_column": "order_no", "batch_size": 20},
        "columns": {"crm_deal_id": {"source": "id"}, "deal_name": {"source": "name"},
                    "order_date": {"default": "20240305"}, "amount_minor": {"source": "cents", "type": "bigint"},
                    "currency": {"default": "USD"}}}
KILLED_PUSH = textwrap.dedent(f"""
    import sys
    from etl.config.outbound import Sync
    from etl.push.run import push
    push(Sync.model_validate({SPEC!r}), "killed", sys.argv[1])
""")
SLOW_INTAKE = [
    "CREATE FUNCTION slow_intake() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END $$ "
    "LANGUAGE plpgsql",
    "CREATE TRIGGER slow_intake BEFORE INSERT OR UPDATE ON sales_orders FOR EACH ROW EXECUTE FUNCTION slow_intake()",
]


@pytest.fixture
def erp_pg(pg_url):
    from demo.erp_db import sales_orders_ddl

    url = pg_sibling_database(pg_url, "erp")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for ddl in [sales_orders_ddl("postgresql"), *SLOW_INTAKE]:
            conn.execute(sa.text(ddl))
    engine.dispose()
    os.environ["AIRFLOW_CONN_TEST_ERP"] = url
    yield url
    os.environ.pop("AIRFLOW_CONN_TEST_ERP", None)


def scalar(url: str, sql: str):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


def orders(url: str) -> dict[str, tuple[int, int]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        out = {k: (n, a) for k, n, a in conn.execute(sa.text(
            "SELECT crm_deal_id, order_no, amount_minor FROM sales_orders"))}
    engine.dispose()
    return out


def settled(url: str) -> None:
    """Wait until no other session of the database is mid-statement or mid-transaction: after a SIGKILL
    the server finishes (or rolls back) what the dead client had sent before the test reads."""
    deadline = time.monotonic() + 120
    while scalar(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                      "AND pid <> pg_backend_pid() AND state IS NOT NULL AND state <> 'idle'") and \
            time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.mark.postgres
def test_sigkill_mid_sql_push_then_rerun_keeps_every_order_once_with_its_erp_number(erp_pg, pg_url):
    reset_pg(pg_url)
    put_table(pg_url, "deals", [{"id": f"d{i:03d}", "name": f"Deal {i}", "cents": str(100 + i)} for i in range(N)])
    state_sql = "SELECT count(*) FROM etl_push_state WHERE sync = 'slow_orders' AND hash IS NOT NULL"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_PUSH, pg_url], env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        in_target = scalar(erp_pg, "SELECT count(*) FROM sales_orders")
        # the dangerous moment: the target committed records whose state has not committed yet
        if in_target >= 100 and in_target > scalar(pg_url, state_sql):
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    settled(erp_pg)
    settled(pg_url)
    before = orders(erp_pg)
    committed = rows(pg_url, state_sql)[0][0]
    assert 100 <= len(before) < N  # killed in the middle of delivery
    assert committed < len(before)  # some records are in the target without push state

    result = push(Sync.model_validate(SPEC), "rerun", pg_url)
    after = orders(erp_pg)
    assert scalar(erp_pg, "SELECT count(*) FROM sales_orders") == N  # one row per deal, none twice
    assert after == {f"d{i:03d}": (after[f"d{i:03d}"][0], 100 + i) for i in range(N)}  # nothing missing
    assert {k: after[k][0] for k in before} == {k: v[0] for k, v in before.items()}  # same ERP orders
    state = dict(rows(pg_url, "SELECT key, target_id FROM etl_push_state WHERE sync = 'slow_orders'"))
    assert state == {k: str(n) for k, (n, _) in after.items()}  # the ERP's own number kept for every deal
    counts = result.counts
    assert (counts["selected"], counts["unchanged"], counts["rejected"]) == (N, committed, 0)
    assert counts["updated"] == len(before) - committed  # written by the killed run, found by key
    assert counts["created"] == N - len(before)
    assert rows(pg_url, "SELECT status FROM etl_push_runs WHERE run_id = 'killed'") == [("failed",)]
    assert rows(pg_url, "SELECT status FROM etl_push_runs WHERE run_id = 'rerun'") == [("success",)]
