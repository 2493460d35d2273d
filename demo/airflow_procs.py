"""Airflow's server processes for `make ui`, started in order and stopped in seconds.

- Every command is the virtualenv's own `airflow` (and the venv's bin/ leads PATH), so nothing needs
  to be activated.
- The api-server starts first; the scheduler, dag-processor and triggerer only once it answers
  `/api/v2/monitor/health`: a task started before would fail to reach the execution API.
- Each process runs in its own process group; stopping sends SIGTERM to every group at once and
  SIGKILL to what is left after a grace period, so no orphan outlives Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
STOP_GRACE_S = 8.0


def airflow_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    path = os.pathsep.join([str(BIN), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, **(extra or {})}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen([AIRFLOW, *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def wait_healthy(port: int, proc: subprocess.Popen, log: Path, timeout_s: float = 180.0) -> float:
    """Seconds until the api-server answers; RuntimeError with its log's tail if it dies or never does."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if proc.poll() is not None:
            break
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2).ok:
                return time.monotonic() - started
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"the Airflow api-server did not become healthy on port {port}; {log}:\n{tail}")


def stop(procs: list[subprocess.Popen], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every process group at once, SIGKILL whatever is still there after `grace_s`."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    for proc in procs:  # the group too: children a component forked (workers, gunicorn) must not linger
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def migrate(env: dict[str, str]) -> None:
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.STDOUT)
