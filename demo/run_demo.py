"""`make demo`: start the demo source systems, run every `<system>_sync` DAG through Airflow into the
default warehouse, then `warehouse_models` and every push DAG, stop what it started, and print what landed.

Airflow runs each DAG in this process with `dag.test()` (real DAG runs and task instances in Airflow's
database, no scheduler or executor needed), and every task's log is written where the UI reads it
(`demo/dag_runs.py`), so `make ui` shows the demo's runs with their logs. Airflow's console output goes
to `var/demo/<dag_id>.log`. Running the demo again finds the same demo data and loads nothing new: that
is the incremental sync at work.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa

from demo import sources
from demo.push_demo import run_pushes
from etl.config.loader import PROJECT_ROOT, load_all
from etl.load.warehouse import engine_for, warehouse_url
from etl.runfiles import data_dir

SUMMARY_COLS = ("pipeline", "entity", "status", "extracted", "filtered", "quarantined", "inserted",
                "updated", "unchanged", "watermark_to")


@contextlib.contextmanager
def demo_sources(systems: list[str], workdir: Path) -> Iterator[None]:
    """Start every demo system the mappings need; export their connections as Airflow env vars."""
    with contextlib.ExitStack() as stack:
        for system in systems:
            env = stack.enter_context(sources.start(system, workdir))
            os.environ.update(env)
        yield


def summary(url: str, since) -> list[tuple]:
    query = sa.text(f"SELECT {', '.join(SUMMARY_COLS)} FROM etl_runs WHERE started_at >= :t "
                    "ORDER BY pipeline, entity")
    with engine_for(url).connect() as conn:
        return [tuple(r) for r in conn.execute(query, {"t": since})]


def print_table(rows: list[tuple]) -> None:
    header = [c.replace("watermark_to", "watermark") for c in SUMMARY_COLS]
    text = [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in text:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def parse_args(argv: list[str] | None = None):
    """Only --help for now: the demo takes its settings from the environment (ETL_WAREHOUSE_URL, ...)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m demo.run_demo", description=__doc__.split("\n\n")[0],
                                     epilog="Settings come from the environment: ETL_WAREHOUSE_URL, AIRFLOW_HOME "
                                            "(the Makefile sets it to .airflow).")
    return parser.parse_args(argv)


AIRFLOW_DEFAULTS = {  # what the Makefile exports, so `python -m demo.run_demo` alone never uses ~/airflow
    "AIRFLOW_HOME": str(PROJECT_ROOT / ".airflow"),
    "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
}


def airflow_environment() -> None:
    for key, value in AIRFLOW_DEFAULTS.items():
        os.environ.setdefault(key, value)


def main(argv: list[str] | None = None) -> int:
    parse_args(argv)
    airflow_environment()
    workdir = data_dir() / "demo"  # ETL_DATA_DIR, default var/
    workdir.mkdir(parents=True, exist_ok=True)
    systems = [s for s in load_all() if s in sources.AVAILABLE]
    url = warehouse_url()
    print(f"warehouse: {url}\nAirflow home: {os.environ.get('AIRFLOW_HOME')}", flush=True)
    from demo.dag_runs import DagRunner
    from etl.load.audit import now_utc

    runner = DagRunner(workdir / "airflow.log")  # migrates Airflow's database, parses the DAG folder once
    started, failed = now_utc(), []
    with demo_sources(systems, workdir):

        def run_dag(dag_id: str) -> bool:
            t0, log = time.monotonic(), workdir / f"{dag_id}.log"
            state = runner.run(dag_id, log)
            print(f"{dag_id}: {'ok' if state == 'success' else f'FAILED ({state}, log {log})'} "
                  f"in {time.monotonic() - t0:.1f}s", flush=True)
            return state == "success"

        for system in systems:
            if not run_dag(f"{system}_sync"):
                failed.append(system)
        rows = summary(url, started)
        print()
        print_table(rows)
        models_ok = run_models(url, run_dag)
        # the outbound syncs, while the demo targets still run (demo/push_demo.py)
        pushes_ok = models_ok and run_pushes(url, started, run_dag, _print_rows)
    bad = [r for r in rows if r[2] != "success"]
    return 1 if failed or bad or not rows or not models_ok or not pushes_ok else 0


def _print_rows(header: list[str], rows: list[tuple]) -> None:
    text = [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in text:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def run_models(url: str, run_dag: Callable[[str], bool]) -> bool:
    """The warehouse_models DAG (crosswalks, core, marts) after the syncs; then what the marts hold."""
    print()
    if not run_dag("warehouse_models"):
        return False
    from etl.models.build import discover

    marts = sorted(n for n, m in discover().items() if m.layer == "marts")
    tables = ["xwalk_customer", "xwalk_person", "xwalk_review", *marts]
    with engine_for(url).connect() as conn:
        for table in tables:
            count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            print(f"  {table:<26} {count:>7} rows")
        review = conn.execute(sa.text("SELECT entity, reason, count(*) FROM xwalk_review "
                                      "GROUP BY entity, reason ORDER BY entity, reason")).all()
    print("  review: " + ", ".join(f"{e} {r} {n}" for e, r, n in review))
    from etl.models.dictionary import main as write_dictionary

    write_dictionary([])  # docs/data_dictionary.html: every table and column, open it in a browser
    return True


def _quiet_exit(code: int) -> None:
    """DuckDB's bindings print "nanobind: leaked ..." at interpreter exit when tasks ran in this process:
    noise after the demo's last line, not an error. Exit with stderr closed."""
    sys.stdout.flush()
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    sys.exit(code)


if __name__ == "__main__":
    _quiet_exit(main(sys.argv[1:]))
