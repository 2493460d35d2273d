"""`make bench`, Airflow half: how long a DAG run takes as a user sees it, beside its floor.

    python -m bench.airflow_runs [--reps 3] [--skip-demo] [--out bench/results/latest.json]

- `dag_noop_s`: a `crm_sync` run that finds zero new rows, under `airflow standalone` (api-server,
  scheduler with LocalExecutor, dag-processor, triggerer; SQLite), from the REST trigger to the run's
  end state as the API reports it (polled every 0.25 s). First one triggered run loads the demo CRM
  (not measured, reported as `dag_warmup_s`); then `--reps` no-op runs, median.
- `dag_floor_s`: the same for `bench_floor`, a DAG with one task that does nothing, in the same
  standalone, alternating with the no-op runs. What is left above it is the product's own cost.
  `dag_noop_cpu_s` / `dag_floor_cpu_s`: CPU seconds all Airflow processes spent during those runs,
  which a busy machine does not stretch the way it stretches wall time.
- `demo_s`: `python -m demo.run_demo` (what `make demo` runs after the install step) on a fresh
  Airflow home, warehouse and data folder; `demo_again_s`: the second demo, which loads nothing new.
- `demo_cpu_s`, `demo_again_cpu_s`, `demo_floor_cpu_s`: their CPU seconds (the process and all it started).
- `demo_floor_s`: the demo's way of running a DAG (`demo/dag_runs.py`: a fresh process, Airflow's
  database created, the DAG folder parsed, `dag.test()`) applied to `bench_floor` alone.

Everything runs in a private temporary folder (Airflow home, DAG folder, mappings, warehouse, data) and
on free ports; every DAG but crm_sync and bench_floor stays paused. The load average
before and after is recorded: these are wall times, and a busy machine stretches them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
FLOOR_DAG = '''"""bench_floor: one task that does nothing, the floor of a DAG run's wall time."""
import datetime as dt

from airflow.sdk import DAG, task

with DAG("bench_floor", schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False, tags=["bench"]) as dag:
    @task
    def nothing() -> None:
        return None

    nothing()
'''


def log(message: str) -> None:
    print(f"[bench.airflow {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _layout(tmp: Path) -> dict[str, str]:
    """A DAG folder with the project's DAG files and `bench_floor`; the project's mappings (every system
    present, as for a user, though only crm_sync and bench_floor are unpaused)."""
    dags, mappings = tmp / "dags", tmp / "mappings"
    shutil.copytree(ROOT / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    (dags / "bench_floor.py").write_text(FLOOR_DAG)
    shutil.copytree(ROOT / "mappings", mappings, ignore=shutil.ignore_patterns("__pycache__"))
    return {"AIRFLOW__CORE__DAGS_FOLDER": str(dags), "ETL_MAPPINGS_DIR": str(mappings),
            "ETL_DATA_DIR": str(tmp / "var"), "ETL_WAREHOUSE_URL": f"duckdb:///{tmp / 'warehouse.duckdb'}",
            "ETL_REPORTS_DIR": str(tmp / "reports")}


def base_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(tmp / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False", "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
    })
    return env


class Standalone:
    """`airflow standalone` in a private home; every other DAG paused, the measured ones unpaused."""

    def __init__(self, tmp: Path, extra: dict[str, str]) -> None:
        from demo.standalone import standalone_command

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = tmp / "airflow"
        env = {**base_env(tmp), **_layout(tmp), **extra,
               "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
               "AIRFLOW__API__PORT": str(self.port), "AIRFLOW__API__BASE_URL": self.url,
               "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/"}
        self.env = env
        self.log = tmp / "standalone.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(standalone_command(), env=env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.token = ""

    def wait(self, what: str, probe, timeout: float = 600, every: float = 0.25):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"standalone exited while waiting for {what}:\n{self.tail()}")
            with contextlib.suppress(requests.RequestException, ValueError, KeyError):
                result = probe()
                if result:
                    return result
            time.sleep(every)
        raise RuntimeError(f"timed out waiting for {what}:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def api(self, method: str, path: str, **kwargs) -> dict:
        response = requests.request(method, f"{self.url}/api/v2{path}", timeout=30,
                                    headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
        response.raise_for_status()
        return response.json()

    def ready(self, dag_ids: list[str]) -> None:
        def healthy() -> bool:
            health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
            return all(health.get(c, {}).get("status") == "healthy"
                       for c in ("metadatabase", "scheduler", "triggerer", "dag_processor"))

        self.wait("a healthy standalone", healthy)
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        response = requests.post(f"{self.url}/auth/token", json={"username": "admin", "password": passwords["admin"]},
                                 timeout=30)
        response.raise_for_status()
        self.token = response.json()["access_token"]
        for dag_id in dag_ids:
            self.wait(f"{dag_id} parsed", lambda d=dag_id: self.api("GET", f"/dags/{d}"))
            self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def idle(self, dag_id: str) -> None:
        """No run of `dag_id` queued or running (unpausing a cron DAG may start one)."""
        def no_active() -> bool:
            runs = self.api("GET", f"/dags/{dag_id}/dagRuns", params={"state": ["queued", "running"]})
            return runs["total_entries"] == 0

        self.wait(f"{dag_id} idle", no_active, every=1.0)

    def run(self, dag_id: str) -> dict:
        """Trigger one run; seconds from the trigger until the API reports its end state, and the CPU
        seconds every Airflow process spent meanwhile (comparable even when the machine is busy)."""
        cpu = tree_cpu_s(self.process.pid)
        started = time.monotonic()
        run_id = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})["dag_run_id"]

        def finished():
            state = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            return state if state in ("success", "failed") else None

        state = self.wait(f"{dag_id} run {run_id}", finished, timeout=1800)
        seconds = round(time.monotonic() - started, 2)
        cpu = round(tree_cpu_s(self.process.pid) - cpu, 2)
        log(f"{dag_id}: {state} in {seconds:.1f}s, {cpu:.1f} CPU s (load average {os.getloadavg()[0]:.2f})")
        if state != "success":
            raise RuntimeError(f"{dag_id} run {run_id} {state}; see {self.home / 'logs'}")
        return {"seconds": seconds, "cpu_s": cpu, "run_id": run_id}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # anything of its group still left


def tree_cpu_s(root: int) -> float:
    """CPU seconds of a process tree: each live process's own time plus that of the children it reaped
    (an executor's finished task processes), from /proc."""
    from bench.measure import _children

    ticks, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        todo += _children(pid)
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def demo_crm(workdir: Path) -> Iterator[dict[str, str]]:
    from demo import sources

    workdir.mkdir(parents=True, exist_ok=True)
    with sources.start("crm", workdir) as env:
        yield env


def dag_runs(reps: int) -> dict:
    """dag_warmup_s, dag_noop_s and dag_floor_s (medians) under airflow standalone."""
    with tempfile.TemporaryDirectory(prefix="bench-airflow-") as name:
        tmp = Path(name)
        with demo_crm(tmp / "crm") as crm_env:
            airflow = Standalone(tmp, crm_env)
            try:
                airflow.ready(["bench_floor", "crm_sync"])
                airflow.idle("crm_sync")
                warmup = airflow.run("crm_sync")  # loads the CRM unless the scheduled run did
                noop, floor = [], []
                for _ in range(reps):  # alternating, so a change in the machine's load hits both
                    floor.append(airflow.run("bench_floor"))
                    noop.append(airflow.run("crm_sync"))
                audit = _noop_counts(tmp / "warehouse.duckdb")
            finally:
                airflow.stop()

    def median(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    return {"dag_warmup_s": warmup["seconds"], "dag_noop_s": median(noop, "seconds"),
            "dag_floor_s": median(floor, "seconds"), "dag_noop_cpu_s": median(noop, "cpu_s"),
            "dag_floor_cpu_s": median(floor, "cpu_s"), "dag_noop_runs": noop, "dag_floor_runs": floor,
            "dag_noop_rows_extracted": audit}


def _noop_counts(path: Path) -> int:
    """Rows the last crm_sync run extracted (0 for a true no-op run)."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute("SELECT sum(extracted) FROM etl_runs WHERE run_id = "
                          "(SELECT run_id FROM etl_runs ORDER BY started_at DESC LIMIT 1)").fetchone()
    return int(row[0] or 0)


def _timed(cmd: list[str], env: dict[str, str], log_file: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and everything it started and reaped)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with log_file.open("wb") as out:
        code = subprocess.run(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = round(time.monotonic() - started, 2)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code:
        raise RuntimeError(f"{' '.join(cmd)} exited {code}; see {log_file}:\n{log_file.read_text()[-3000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, round(cpu, 2)


FLOOR_RUNNER = """
import os, sys
from pathlib import Path
from demo.dag_runs import DagRunner
runner = DagRunner(Path(sys.argv[1]) / "airflow.log")
state = runner.run("bench_floor", Path(sys.argv[1]) / "bench_floor.log")
sys.exit(0 if state == "success" else 1)
"""


def demo_runs() -> dict:
    """demo_s, demo_again_s and demo_floor_s, each on fresh state in a private folder."""
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as name:
        tmp = Path(name)
        env = {**base_env(tmp), "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "ETL_DATA_DIR": str(tmp / "var"),
               "ETL_WAREHOUSE_URL": f"duckdb:///{tmp / 'warehouse.duckdb'}", "ETL_REPORTS_DIR": str(tmp / "reports")}
        demo = [sys.executable, "-m", "demo.run_demo"]
        first, first_cpu = _timed(demo, env, tmp / "demo-1.log")
        log(f"demo: {first:.1f}s, {first_cpu:.1f} CPU s (load average {os.getloadavg()[0]:.2f})")
        again, again_cpu = _timed(demo, env, tmp / "demo-2.log")
        log(f"demo again: {again:.1f}s, {again_cpu:.1f} CPU s")
        dags = tmp / "floor-dags"
        dags.mkdir()
        (dags / "bench_floor.py").write_text(FLOOR_DAG)
        floor_env = {**env, "AIRFLOW_HOME": str(tmp / "floor-airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
        (tmp / "floor").mkdir()
        floor, floor_cpu = _timed([sys.executable, "-c", FLOOR_RUNNER, str(tmp / "floor")], floor_env,
                                  tmp / "floor.log")
        log(f"demo floor: {floor:.1f}s, {floor_cpu:.1f} CPU s")
        printed = (tmp / "demo-2.log").read_text(errors="replace")
    return {"demo_s": first, "demo_again_s": again, "demo_floor_s": floor, "demo_cpu_s": first_cpu,
            "demo_again_cpu_s": again_cpu, "demo_floor_cpu_s": floor_cpu,
            "demo_again_output": [ln for ln in printed.splitlines() if "_sync " in ln or "write requests" in ln]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.airflow_runs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="no-op and floor runs each (median reported)")
    parser.add_argument("--skip-demo", action="store_true", help="only the standalone runs")
    parser.add_argument("--skip-standalone", action="store_true", help="only the demo runs")
    parser.add_argument("--out", default=str(RESULTS / "latest.json"))
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    figures: dict = {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cores": os.cpu_count()}
    if not args.skip_standalone:
        figures.update(dag_runs(args.reps))
    if not args.skip_demo:
        figures.update(demo_runs())
    figures["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {}
    report["airflow"] = {**report.get("airflow", {}), **figures}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out)
    for key in ("dag_noop_s", "dag_floor_s", "dag_noop_cpu_s", "dag_floor_cpu_s", "dag_warmup_s", "demo_s",
                "demo_floor_s", "demo_again_s", "demo_cpu_s", "demo_floor_cpu_s"):
        if key in figures:
            print(f"{key:<14} {figures[key]:>8.1f} s")
    print(f"load average before/after: {figures['load_average_before_after']}")
    from bench.check import airflow_lines

    for ok, text in airflow_lines(report["airflow"]):
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
