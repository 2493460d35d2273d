"""`make ui`: the demo source systems plus `airflow standalone` (UI at http://localhost:8080).

Standalone only shuts its children down cleanly on SIGINT, and a process started from a
non-interactive shell ignores SIGINT; so this launcher restores the default handler before exec-ing
it, and forwards Ctrl-C / SIGTERM as SIGINT.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from demo import sources
from demo.run_demo import demo_sources
from etl.config.loader import PROJECT_ROOT, load_all

UI_SETTINGS = {
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}


def standalone_command() -> list[str]:
    """A child that resets SIGINT to default and becomes `airflow standalone`."""
    airflow = str(Path(sys.executable).parent / "airflow")
    code = ("import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); "
            f"os.execv({airflow!r}, [{airflow!r}, 'standalone'])")
    return [sys.executable, "-c", code]


def run_standalone(env: dict[str, str]) -> int:
    proc = subprocess.Popen(standalone_command(), env=env)

    def forward(signum, frame):  # noqa: ARG001 - signal handler signature
        proc.send_signal(signal.SIGINT)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    return proc.wait()


def main() -> int:
    workdir = PROJECT_ROOT / "var" / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    systems = [s for s in load_all() if s in sources.AVAILABLE]
    with demo_sources(systems, workdir):
        env = {**os.environ, **UI_SETTINGS}
        home = env.get("AIRFLOW_HOME", str(PROJECT_ROOT / ".airflow"))
        print(f"Airflow UI: http://localhost:8080  (user admin, password in {home}/"
              "simple_auth_manager_passwords.json.generated)")
        return run_standalone(env)


if __name__ == "__main__":
    sys.exit(main())
