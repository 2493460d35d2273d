"""`make ui`: the demo source systems plus Airflow (api-server, scheduler, dag-processor, triggerer) with
settings for 2 cores; the UI on http://localhost:8080. Ctrl-C (or SIGTERM) stops everything in seconds.

Instead of `airflow standalone` the components are started here, in order: the api-server first, the
others once it is healthy, so no task starts before the execution API can answer (see
demo/airflow_procs.py). Nothing needs to be activated: the virtualenv's own `airflow` is used.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

UI_SETTINGS = {
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}
COMPONENTS = ("scheduler", "dag-processor", "triggerer")


def standalone_command() -> list[str]:
    """`airflow standalone` (all components in one process tree) with SIGINT restored, for tests that
    want Airflow's own all-in-one launcher: a child started from a non-interactive shell ignores SIGINT,
    and standalone shuts its children down cleanly only on SIGINT."""
    from demo.airflow_procs import AIRFLOW

    code = ("import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); "
            f"os.execv({AIRFLOW!r}, [{AIRFLOW!r}, 'standalone'])")
    return [sys.executable, "-c", code]


class Stop(Exception):
    """Ctrl-C or SIGTERM: leave the wait loop and stop every component."""


def _raise_stop(signum, frame):  # noqa: ARG001 - signal handler signature
    raise Stop(signal.Signals(signum).name)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo.standalone", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("AIRFLOW__API__PORT", "8080")))
    parser.add_argument("--no-sources", action="store_true", help="do not start the demo source systems")
    return parser.parse_args(argv)


def run(port: int, env: dict[str, str], logs: Path) -> int:
    from demo import airflow_procs as af

    procs = []
    # a process started in the background ignores SIGINT; our own handler works either way
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        api = af.start(["api-server", "--port", str(port)], env, logs / "api-server.log")
        procs.append(api)
        waited = af.wait_healthy(port, api, logs / "api-server.log")
        home = env["AIRFLOW_HOME"]
        print(f"Airflow UI: http://localhost:{port}  (api-server healthy after {waited:.0f}s; user admin, "
              f"password in {home}/simple_auth_manager_passwords.json.generated)", flush=True)
        for name in COMPONENTS:
            procs.append(af.start([name], env, logs / f"{name}.log"))
        print(f"scheduler, dag-processor and triggerer started; logs in {logs}; Ctrl-C stops everything",
              flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        dead = next(p for p in procs if p.poll() is not None)
        print(f"{' '.join(map(str, dead.args[1:2]))} exited with code {dead.returncode}; stopping", flush=True)
        return 1
    except Stop as why:
        print(f"\n{why}: stopping Airflow…", flush=True)
        return 0
    finally:
        started = time.monotonic()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the clean-up
        af.stop(procs)
        print(f"stopped in {time.monotonic() - started:.1f}s", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from demo import airflow_procs as af
    from demo import sources
    from demo.run_demo import airflow_environment, demo_sources
    from etl.config.loader import load_all
    from etl.runfiles import data_dir

    airflow_environment()
    env = af.airflow_env(UI_SETTINGS)
    logs = Path(env["AIRFLOW_HOME"]) / "logs" / "ui"
    af.migrate(env)
    workdir = data_dir() / "demo"  # ETL_DATA_DIR, default var/
    workdir.mkdir(parents=True, exist_ok=True)
    systems = [] if args.no_sources else [s for s in load_all(strict=False) if s in sources.AVAILABLE]
    with demo_sources(systems, workdir):
        return run(args.port, {**env, **{k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CONN_")}},
                   logs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
