"""`oa_sync` starts by itself when a file lands: `airflow standalone` for real (scheduler, triggerer,
dag-processor, api-server on SQLite), a file dropped into the landing folder, an asset-triggered run seen
through the REST API, its files loaded and moved to processed/, then standalone stopped with no process left.

Everything is private to the test: AIRFLOW_HOME, a dags folder holding only syncs.py (which builds oa_sync
alone: the mappings copy holds one system), the data dir, the DuckDB warehouse, a free port, and a copy of
`mappings/oa` reduced to what the test needs: the approvals entity, and `schedule.on_file` without the
daily cron. With the cron, Airflow starts one catch-up run as
soon as the DAG appears (catchup=False still runs the latest past tick), and a file-triggered run would
queue behind it (max_active_runs=1); the cron-OR-file timetable itself is checked in tests/unit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from demo.oa_files import redeliver
from demo.standalone import standalone_command
from tests.conftest import ROOT
from tests.helpers.warehouse import rows

pytestmark = pytest.mark.airflow

# generous: on a shared 2-core machine under load standalone took over 2 min to answer healthy
READY_S, RUN_START_S, RUN_DONE_S, STOP_S = 360, 120, 300, 60


@dataclass
class Standalone:
    url: str
    home: Path
    process: subprocess.Popen
    log: Path
    token: str = ""

    def get(self, path: str, **params) -> dict:
        response = requests.get(f"{self.url}{path}", params=params, timeout=10,
                                headers={"Authorization": f"Bearer {self.token}"})
        response.raise_for_status()
        return response.json()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes_of(home: Path) -> list[int]:
    """Live processes whose environment names this test's AIRFLOW_HOME (standalone and all it started)."""
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_for(what: str, probe, timeout: float, airflow: Standalone, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if airflow.process.poll() is not None:
            pytest.fail(f"airflow standalone exited ({airflow.process.returncode}) while waiting for "
                        f"{what}:\n{airflow.tail()}")
        try:
            result = probe()
        except (requests.RequestException, ValueError, KeyError):
            result = None
        if result:
            return result
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; standalone log:\n{airflow.tail()}")


def healthy(airflow: Standalone) -> bool:
    health = requests.get(f"{airflow.url}/api/v2/monitor/health", timeout=5).json()
    components = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return all(health.get(c, {}).get("status") == "healthy" for c in components)


def login(airflow: Standalone) -> str:
    passwords = json.loads((airflow.home / "simple_auth_manager_passwords.json.generated").read_text())
    response = requests.post(f"{airflow.url}/auth/token", json={"username": "admin",
                                                                "password": passwords["admin"]}, timeout=10)
    response.raise_for_status()
    return response.json()["access_token"]


@contextmanager
def standalone(tmp: Path) -> Iterator[Standalone]:
    home, dags, port = tmp / "airflow", tmp / "dags", free_port()
    dags.mkdir(parents=True)
    shutil.copy(ROOT / "dags" / "syncs.py", dags)
    mappings = tmp / "mappings" / "oa"
    mappings.mkdir(parents=True)
    shutil.copy(ROOT / "mappings" / "oa" / "approvals.yml", mappings)
    system = yaml.safe_load((ROOT / "mappings" / "oa" / "_system.yml").read_text())
    system["schedule"].pop("cron")
    (mappings / "_system.yml").write_text(yaml.safe_dump(system))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__PARALLELISM": "4", "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        # the scheduler's and triggerer's log servers too: another Airflow on a shared machine holds 8793/8794
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "ETL_DATA_DIR": str(tmp / "var"), "ETL_MAPPINGS_DIR": str(tmp / "mappings"),
        "ETL_WAREHOUSE_URL": f"duckdb:///{tmp / 'warehouse.duckdb'}",
        # standalone starts its components as plain `airflow`, found on PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    log = tmp / "standalone.log"
    with log.open("wb") as out:
        process = subprocess.Popen(standalone_command(), env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    airflow = Standalone(f"http://127.0.0.1:{port}", home, process, log)
    try:
        yield airflow
    finally:
        stop(airflow)


def stop(airflow: Standalone) -> None:
    """SIGINT (standalone's clean shutdown), then make sure nothing it started is left running."""
    if airflow.process.poll() is None:
        airflow.process.send_signal(signal.SIGINT)
        try:
            airflow.process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            pass
    deadline = time.monotonic() + 15
    while processes_of(airflow.home) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = processes_of(airflow.home)
    for pid in left:  # cleanup before failing, so a broken shutdown never leaks into other tests
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if airflow.process.poll() is None:
        airflow.process.kill()
        airflow.process.wait()
    assert not left, f"processes left after SIGINT: {left}"
    assert airflow.process.returncode is not None


def test_a_landed_file_starts_oa_sync(tmp_path):
    started = time.monotonic()
    with standalone(tmp_path) as airflow:
        wait_for("a healthy standalone", lambda: healthy(airflow), READY_S, airflow)
        airflow.token = login(airflow)
        active = lambda: airflow.get("/api/v2/dags/oa_sync")["is_paused"] is False  # noqa: E731
        wait_for("oa_sync parsed and active", active, READY_S, airflow)
        assert airflow.get("/api/v2/dags/oa_sync/dagRuns")["total_entries"] == 0

        landing = tmp_path / "var" / "oa" / "landing"
        dropped_at = time.monotonic()
        redeliver(landing, "approvals_1.csv")  # one file of an OA drop lands

        def asset_run():
            runs = airflow.get("/api/v2/dags/oa_sync/dagRuns")["dag_runs"]
            return next((r for r in runs if r["run_type"] == "asset_triggered"), None)

        run = wait_for("an asset-triggered oa_sync run", asset_run, RUN_START_S, airflow)
        latency = time.monotonic() - dropped_at
        run_id = run["dag_run_id"]

        def finished():
            state = airflow.get(f"/api/v2/dags/oa_sync/dagRuns/{run_id}")["state"]
            return state if state in ("success", "failed") else None

        state = wait_for("the run to finish", finished, RUN_DONE_S, airflow, every=2)
        assert state == "success", airflow.tail()
        assert [p.name for p in landing.iterdir() if p.is_file()] == []
        assert [p.name for p in (landing / "processed").iterdir()] == ["approvals_1.csv"]
        url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        audit = rows(url, "SELECT entity, status, extracted FROM etl_runs WHERE run_id = :r", r=run_id)
        assert audit == [("approvals", "success", 107)]
        assert rows(url, "SELECT file_name, status FROM etl_files") == [("approvals_1.csv", "loaded")]
    print(f"run started {latency:.1f}s after the drop; whole test {time.monotonic() - started:.0f}s")
    assert latency < 30
