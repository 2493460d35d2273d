"""`make demo`: start the demo source systems, run every `<system>_sync` DAG through Airflow into the
default warehouse, stop what it started, and print what landed.

Airflow runs each DAG with `airflow dags test` (a real DAG run, no scheduler needed). Running the demo
again finds the same demo data and loads nothing new: that is the incremental sync at work.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from demo import sources
from demo.push_demo import run_pushes
from etl.config.loader import PROJECT_ROOT, load_all
from etl.load.warehouse import engine_for, warehouse_url

SUMMARY_COLS = ("pipeline", "entity", "status", "extracted", "filtered", "quarantined", "inserted",
                "updated", "unchanged", "watermark_to")


def _airflow(*args: str, log: Path | None = None, env: dict[str, str] | None = None) -> int:
    from demo.airflow_procs import AIRFLOW, airflow_env

    cmd, env = [AIRFLOW, *args], env or airflow_env()
    if log is None:
        return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                              env=env).returncode
    with log.open("w") as out:
        return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode


@contextlib.contextmanager
def task_runner(workdir: Path) -> Iterator[tuple[list[str], dict[str, str] | None]]:
    """How `dags test` runs the tasks. By default through Airflow's executor with an api-server up, so
    every task writes its log where the UI reads it (`make ui` then shows the demo's runs with their
    logs); DEMO_TASK_LOGS=0 runs them in-process instead (faster; the task logs only reach the
    per-DAG log files in var/demo)."""
    if os.environ.get("DEMO_TASK_LOGS", "1") == "0":
        yield [], None
        return
    from demo.airflow_procs import airflow_env, api_server

    with api_server(airflow_env(), workdir / "airflow") as (_, env):
        yield ["--use-executor"], env


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
    workdir = PROJECT_ROOT / "var" / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    systems = [s for s in load_all() if s in sources.AVAILABLE]
    url = warehouse_url()
    print(f"warehouse: {url}\nAirflow home: {os.environ.get('AIRFLOW_HOME')}")
    _airflow("db", "migrate")  # the venv's own airflow: nothing needs to be activated
    from etl.load.audit import now_utc

    started, failed = now_utc(), []
    with demo_sources(systems, workdir), task_runner(workdir) as (flags, env):
        for system in systems:
            t0 = time.monotonic()
            log = workdir / f"{system}_sync.log"
            code = _airflow("dags", "test", f"{system}_sync", *flags, log=log, env=env)
            state = "ok" if code == 0 else f"FAILED (exit {code}, log {log})"
            print(f"{system}_sync: {state} in {time.monotonic() - t0:.1f}s")
            if code:
                failed.append(system)
        rows = summary(url, started)
        print()
        print_table(rows)
        models_ok = run_models(url, workdir, flags, env)
        # the outbound syncs, while the demo targets still run (demo/push_demo.py); tasks run as above

        def airflow(*args: str, log: Path | None = None) -> int:
            return _airflow(*args, *flags, log=log, env=env)

        pushes_ok = models_ok and run_pushes(url, workdir, started, airflow, _print_rows)
    bad = [r for r in rows if r[2] != "success"]
    return 1 if failed or bad or not rows or not models_ok or not pushes_ok else 0


def _print_rows(header: list[str], rows: list[tuple]) -> None:
    text = [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in text:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def run_models(url: str, workdir: Path, flags: list[str] | None = None, env: dict[str, str] | None = None) -> bool:
    """The warehouse_models DAG (crosswalks, core, marts) after the syncs; then what the marts hold."""
    t0, log = time.monotonic(), workdir / "warehouse_models.log"
    code = _airflow("dags", "test", "warehouse_models", *(flags or []), log=log, env=env)
    print(f"\nwarehouse_models: {'ok' if code == 0 else f'FAILED (exit {code}, log {log})'} "
          f"in {time.monotonic() - t0:.1f}s")
    if code:
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
