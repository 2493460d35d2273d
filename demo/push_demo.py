"""`make demo`, outbound half: run every `push_<sync>` DAG through Airflow against the demo OA, HR and
ERP systems (still running), then print the push table and what the targets received.

A second `make demo` finds nothing changed: every sync reports `unchanged` and the targets count zero
write requests, which the last line shows.
"""

from __future__ import annotations

from collections.abc import Callable

import requests
import sqlalchemy as sa

PUSH_COLS = ("sync", "status", "selected", "created", "updated", "deleted", "unchanged", "rejected", "requests")


def push_table(url: str, since) -> list[tuple]:
    from etl.load.warehouse import engine_for

    query = sa.text(f"SELECT {', '.join(PUSH_COLS)} FROM etl_push_runs WHERE started_at >= :t "
                    "AND NOT dry_run ORDER BY sync")
    with engine_for(url).connect() as conn:
        return [tuple(r) for r in conn.execute(query, {"t": since})]


def target_writes() -> dict[str, int]:
    """Write requests each demo REST target received since it started (its own counter)."""
    from etl.sources.connections import get_connection

    out = {}
    for name, conn_id in (("OA", "oa_api"), ("HR", "hr_api")):
        try:
            base = get_connection(conn_id).base_url.rstrip("/")
            out[name] = requests.get(f"{base}/_admin/writes", timeout=10).json()["write_requests"]
        except Exception:  # a target that is not running has received nothing
            out[name] = 0
    return out


def run_pushes(url: str, since, run_dag: Callable[[str], bool],
               print_table: Callable[[list[str], list[tuple]], None]) -> bool:
    """`run_dag(dag_id)` runs one DAG and prints its line (demo/run_demo.py); True when it succeeded."""
    from etl.config.outbound import load_syncs

    ok = True
    print()
    for sync in load_syncs().values():
        ok = run_dag(sync.dag_id) and ok
    rows = push_table(url, since)
    print()
    print_table(list(PUSH_COLS), rows)
    received = target_writes()
    sql_statements = sum(r[-1] or 0 for r in rows if r[0] in _sql_syncs())
    print(f"\nwrite requests received this run: OA {received['OA']}, HR {received['HR']}, "
          f"ERP statements {sql_statements}" + ("  (nothing changed, nothing sent)"
                                                if not any(received.values()) and not sql_statements else ""))
    return ok and bool(rows) and all(r[1] == "success" for r in rows)


def _sql_syncs() -> set[str]:
    from etl.config.outbound import load_syncs

    return {name for name, s in load_syncs().items() if s.target.kind == "sql"}



