"""The product on Airflow's CeleryExecutor, the production topology of docker-compose.yml as processes.

Redis (the broker, `scripts/redis_up.sh`), PostgreSQL as Airflow's metadata database and as the warehouse
(sibling databases of the test database), an S3-compatible store (moto's server) as ETL_STAGING_URL, the
api-server, scheduler, dag-processor and triggerer, and two Celery workers: separate process groups,
each with its own working directory, AIRFLOW_HOME and ETL_DATA_DIR, and its own host name (what Airflow
records in task_instance.hostname), so nothing can pass a file between them on local disk.

1. The same demo sources are first synced in-process with local staging into a reference warehouse
   (the single-machine run).
2. Every sync DAG runs through the scheduler: crm, erp and hr triggered, oa started by its landing
   watcher seeing the OA drop in the bucket. Both workers ran tasks; the warehouse equals the reference
   (every table, run-specific columns left out).
3. The warehouse is emptied and crm_sync (the largest DAG) runs again; while the first worker runs a task,
   its whole process group is SIGKILLed. Its tasks miss their heartbeats, are retried on the other worker,
   the run succeeds, and the CRM's tables equal the reference again.
No process of the topology is left afterwards. The DAG shape is not assumed: any task ids.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from demo import sources
from demo.airflow_procs import AIRFLOW, free_port, wait_healthy
from demo.oa_files import write_oa_drop
from etl.config.loader import load_system
from tests.conftest import ROOT, pg_sibling_database, reset_pg
from tests.helpers.s3 import keys, moto_s3
from tests.helpers.warehouse import rows

pytestmark = [pytest.mark.distributed, pytest.mark.airflow]

SYSTEMS = ("crm", "erp", "hr", "oa")
SYNC_DAGS = tuple(f"{s}_sync" for s in SYSTEMS)
TRIGGERED = ("crm_sync", "erp_sync", "hr_sync")  # oa_sync starts by itself when the drop lands
WORKERS = ("worker-a", "worker-b")
READY_S, ROUND_S, KILL_WINDOW_S, STOP_S = 420, 1200, 600, 20
HEARTBEAT_TIMEOUT_S = 90
TERMINAL = {"success", "failed"}


def redis_socket() -> str:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "redis_up.sh")], capture_output=True, text=True)
    if done.returncode:
        message = f"Redis could not be started (scripts/redis_up.sh): {done.stderr[-1500:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return done.stdout.strip().splitlines()[-1]


def sync_mappings(tmp: Path) -> Path:
    """The four sync systems without their cron (runs are started by the test or by the OA drop, never by a
    clock tick) and without outbound syncs; everything else as shipped."""
    out = tmp / "mappings"
    for system in SYSTEMS:
        shutil.copytree(ROOT / "mappings" / system, out / system, ignore=shutil.ignore_patterns("outbound"))
        path = out / system / "_system.yml"
        data = yaml.safe_load(path.read_text())
        data["schedule"].pop("cron", None)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every table of the warehouse (`schema.table`, any schema the product made) except the run ledgers
    (etl_runs, etl_files), as sorted rows of strings, without the columns that name a run or a moment
    (they differ between any two runs)."""
    tables = rows(url, "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = "
                       "'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")
    out = {}
    for schema, table in tables:
        control = table.startswith("etl_")
        if control and table not in ("etl_quarantine", "etl_state"):
            continue
        cols = [r[0] for r in rows(url, "SELECT column_name FROM information_schema.columns WHERE "
                                        "table_schema = :s AND table_name = :t ORDER BY ordinal_position",
                                   s=schema, t=table)]
        # the quarantine's raw `record` is sealed (Fernet: a fresh IV per encryption), so it differs too
        run_specific = {"_loaded_at", "_run_id"} | (
            {c for c in cols if "run_id" in c or c.endswith("_at") or c == "record"} if control else set())
        select = ", ".join(f'"{c}"' for c in cols if c not in run_specific)
        out[f"{schema}.{table}"] = sorted(tuple(str(v) for v in r)
                                          for r in rows(url, f'SELECT {select} FROM "{schema}"."{table}"'))
    return out


def assert_same_warehouse(got: dict, want: dict, when: str) -> None:
    assert sorted(got) == sorted(want), f"{when}: tables differ: {set(got) ^ set(want)}"
    differ = [t for t in want if got[t] != want[t]]
    detail = {t: (len(got[t]), len(want[t]), sorted(set(got[t]) ^ set(want[t]))[:3]) for t in differ}
    assert not differ, f"{when}: tables differ from the single-machine run (rows, rows, sample): {detail}"
    assert sum(len(v) for v in want.values()) > 500, "the reference warehouse is suspiciously small"


# ------------------------------------------------------------------------------------------ processes


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def marked_processes(marker: str) -> list[int]:
    """Live processes whose environment carries this test's marker: everything the topology started."""
    needle = f"ETL_TEST_DIST_MARK={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError, IndexError):
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(entry.name))
    return found


def kill_tree(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """The process group and every descendant (a task process may have left the group)."""
    pids = descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


@dataclass
class Topology:
    tmp: Path
    env: dict[str, str]
    meta_url: str
    warehouse_url: str
    s3: dict[str, str]
    marker: str
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        return self.tmp / "logs"

    def start(self, name: str, args: list[str], extra: dict[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen([AIRFLOW, *args], env={**self.env, **(extra or {})}, cwd=cwd or self.tmp,
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.procs[name] = proc
        return proc

    def airflow(self, *args: str) -> None:
        subprocess.run([AIRFLOW, *args], env=self.env, cwd=self.tmp, check=True, timeout=600,
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def meta(self, sql: str, **params) -> list[tuple]:
        return rows(self.meta_url, sql, **params)

    def tail(self) -> str:
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}")
        for worker in WORKERS:  # the task logs of the last failed tries
            for log in sorted((self.tmp / worker / "airflow" / "logs").rglob("*.log"))[-3:]:
                text = log.read_text(errors="replace")
                if "ERROR" in text:
                    parts.append(f"--- {worker}: {log.name}\n{text[-1500:]}")
        return "\n".join(parts)[-12000:]

    def check_alive(self, what: str) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None and name != "worker-a-killed":
                pytest.fail(f"{name} exited ({proc.returncode}) while waiting for {what}:\n{self.tail()}")

    def wait_for(self, what: str, probe, timeout: float, every: float = 2.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive(what)
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                result = probe()
                if result:
                    return result
            time.sleep(every)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}:\n{self.tail()}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                kill_tree(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_S
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        for proc in self.procs.values():
            kill_tree(proc)
            proc.wait()
        deadline = time.monotonic() + STOP_S
        while marked_processes(self.marker) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in marked_processes(self.marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def base_env(tmp: Path, meta_url: str, warehouse_url: str, s3: dict[str, str], sources_env: dict[str, str],
             mappings: Path, dags: Path, marker: str) -> dict[str, str]:
    sock = redis_socket()
    queue = f"etl-dist-{marker}"
    driver_url = sa.engine.make_url(meta_url).set(drivername="postgresql+psycopg2").render_as_string(False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ETL_STAGING"))}
    env.update(sources_env)
    env.update(s3)
    env.update({
        "AIRFLOW_HOME": str(tmp / "home"), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor", "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False", "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": driver_url,
        "AIRFLOW__CELERY__BROKER_URL": f"redis+socket://{sock}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{driver_url}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        # a killed worker's tasks are noticed after this many seconds without a heartbeat (compose: 300)
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
        # tasks the killed worker had taken from the queue but not started are sent again
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "240",
        "ETL_WAREHOUSE_URL": warehouse_url, "ETL_MAPPINGS_DIR": str(mappings),
        "ETL_STAGING_URL": f"s3://{s3['ETL_TEST_S3_BUCKET']}/etl", "ETL_DATA_DIR": str(tmp / "home" / "var"),
        "ETL_TEST_DIST_MARK": marker,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    })
    return env


@contextlib.contextmanager
def topology(tmp: Path, pg_url: str, sources_env: dict[str, str], mappings: Path,
             s3: dict[str, str]) -> Iterator[Topology]:
    marker = uuid.uuid4().hex[:12]
    dags = tmp / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags" / "syncs.py", dags)
    meta_url = pg_sibling_database(pg_url, "dist_meta")
    warehouse_url = pg_sibling_database(pg_url, "dist_wh")
    env = base_env(tmp, meta_url, warehouse_url, s3, sources_env, mappings, dags, marker)
    top = Topology(tmp, env, meta_url, warehouse_url, s3, marker)
    try:
        top.airflow("db", "migrate")
        port = free_port()
        top.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{port}/execution/"
        api = top.start("api-server", ["api-server", "--port", str(port)])
        wait_healthy(port, api, top.logs / "api-server.log", timeout_s=READY_S)
        for component in ("scheduler", "dag-processor", "triggerer"):
            top.start(component, [component])
        queue = top.env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]
        for name in WORKERS:
            workdir = tmp / name
            (workdir / "airflow").mkdir(parents=True)
            top.start(name, ["celery", "worker", "-H", f"{name}@%h", "-q", queue, "-c", "2", "--skip-serve-logs"],
                      extra={"AIRFLOW_HOME": str(workdir / "airflow"), "ETL_DATA_DIR": str(workdir / "var"),
                             "ETL_TEST_WORKER_HOST": name,
                             "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.e2e.worker_host.hostname"},
                      cwd=workdir)
        yield top
    finally:
        top.stop()


# ------------------------------------------------------------------------------------------ the rounds


def reference_warehouse(tmp: Path, pg_url: str, mappings: Path, monkeypatch) -> dict[str, list[tuple]]:
    """The single-machine run: every system's entities in-process, staged on local disk."""
    from tests.helpers.pipeline import sync_system

    url = pg_sibling_database(pg_url, "dist_ref")
    with monkeypatch.context() as m:
        m.delenv("ETL_STAGING_URL", raising=False)
        m.setenv("ETL_DATA_DIR", str(tmp / "reference"))
        m.setenv("ETL_MAPPINGS_DIR", str(mappings))
        write_oa_drop(tmp / "reference" / "oa" / "landing", bad=True)
        for system in SYSTEMS:
            sync_system(system, url, f"reference_{system}")
    return snapshot(url)


def drop_oa_files(top: Topology) -> None:
    """The OA system exports into the landing folder in the bucket (it is a separate system: its own env)."""
    write_oa_drop(f"{top.env['ETL_STAGING_URL']}/oa/landing", bad=True)


def landing_waiting(top: Topology) -> list[str]:
    prefix = f"{top.s3['ETL_TEST_S3_BUCKET']}/etl/oa/landing/"
    return [k for k in keys(top.s3["AWS_ENDPOINT_URL"], prefix.rstrip("/"))
            if "/" not in k.removeprefix(prefix)]


def dag_runs(top: Topology) -> dict[str, tuple[str, str]]:
    return {run_id: (dag_id, state) for dag_id, run_id, state in top.meta("SELECT dag_id, run_id, state FROM dag_run")}


def trigger(top: Topology, label: str, dag_ids: tuple[str, ...] = TRIGGERED) -> None:
    """Start DAGs through the scheduler (oa_sync is started by its landing watcher)."""
    for dag_id in dag_ids:
        top.airflow("dags", "trigger", dag_id, "--run-id", f"{label}_{dag_id}")


def wait_round(top: Topology, label: str, before: set[str], dag_ids: tuple[str, ...] = SYNC_DAGS) -> set[str]:
    """The runs started since `before`, once each of `dag_ids` has one and all have finished successfully."""

    def finished():
        runs = {r: v for r, v in dag_runs(top).items() if r not in before}
        started = {dag_id for dag_id, _ in runs.values()}
        if set(dag_ids) <= started and all(state in TERMINAL for _, state in runs.values()) \
                and not landing_waiting(top):
            return runs
        return None

    top.wait_for(f"every sync DAG of {label} to finish", finished, ROUND_S, every=5)
    time.sleep(10)  # a last asset event could still start one more oa_sync run: include it
    runs = top.wait_for(f"the runs of {label} to settle", finished, ROUND_S, every=5)
    failed = {r: v for r, v in runs.items() if v[1] != "success"}
    assert not failed, f"{label}: runs failed: {failed}\n{top.tail()}"
    return set(runs)


def task_rows(top: Topology, run_ids: set[str]) -> list[tuple]:
    """(dag_id, run_id, task_id, map_index, state, hostname, try_number) of these runs' task instances."""
    got = top.meta("SELECT dag_id, run_id, task_id, map_index, state, hostname, try_number FROM task_instance")
    return [r for r in got if r[1] in run_ids]


def wait_workers_ready(top: Topology) -> None:
    def ready():
        return all("ready." in (top.logs / f"{w}.log").read_text(errors="replace") for w in WORKERS)

    top.wait_for("both Celery workers to be ready", ready, READY_S)

    def dags_active():
        got = {r[0] for r in top.meta("SELECT dag_id FROM dag WHERE is_paused = false")}
        return set(SYNC_DAGS) <= got

    top.wait_for("the sync DAGs parsed and active", dags_active, READY_S)


def kill_first_worker_mid_run(top: Topology, run_ids_before: set[str]) -> list[tuple]:
    """SIGKILL worker-a's process group (and every descendant) as soon as it runs a task of this round;
    return its task instances that were still running when it died."""

    def on_a(state: str):
        new = set(dag_runs(top)) - run_ids_before
        return [r for r in task_rows(top, new) if r[4] == state and r[5] == WORKERS[0]]

    top.wait_for("worker-a to run a task", lambda: on_a("running"), KILL_WINDOW_S, every=0.5)
    proc = top.procs.pop(WORKERS[0])
    kill_tree(proc)
    proc.wait()
    top.procs["worker-a-killed"] = proc
    victims = on_a("running")  # not those that finished between the look and the kill
    assert victims, "worker-a finished its tasks just before the kill; nothing was killed mid-task"
    return victims


@pytest.mark.timeout(2700)  # generous: a loaded 2-core machine; the waits inside poll, each with its own limit
def test_celery_topology_equals_the_single_machine_run(tmp_path, pg_url, monkeypatch):
    started = time.monotonic()
    monkeypatch.setenv("DEMO_SCALE", "0.1")
    mappings = sync_mappings(tmp_path)
    with contextlib.ExitStack() as stack:
        sources_env: dict[str, str] = {}
        for system in ("crm", "erp", "hr"):
            sources_env.update(stack.enter_context(sources.start(system, tmp_path)))
        for key, value in sources_env.items():
            monkeypatch.setenv(key, value)
        reference = reference_warehouse(tmp_path, pg_url, mappings, monkeypatch)

        s3 = stack.enter_context(moto_s3(tmp_path / "logs" / "moto.log"))
        with topology(tmp_path, pg_url, sources_env, mappings, s3) as top:
            with monkeypatch.context() as m:  # the test process writes the OA drop into the same bucket
                for key, value in s3.items():
                    m.setenv(key, value)
                drop_oa_files(top)
                wait_workers_ready(top)
                trigger(top, "round1")
                first = wait_round(top, "round1", set())
                hosts = {r[5] for r in task_rows(top, first) if r[4] == "success"}
                assert set(WORKERS) <= hosts, f"tasks ran on {hosts}, not on both workers"
                assert_same_warehouse(snapshot(top.warehouse_url), reference, "after the first round")
                assert keys(s3["AWS_ENDPOINT_URL"], f"{s3['ETL_TEST_S3_BUCKET']}/etl/runs") == []

                # The kill round reloads the CRM, the largest DAG, into an emptied warehouse (all four
                # again would double the test's time for no other path: every DAG's tasks are alike).
                reset_pg(top.warehouse_url)
                trigger(top, "round2", ("crm_sync",))
                victims = kill_first_worker_mid_run(top, first)
                second = wait_round(top, "round2 (a worker killed)", first, ("crm_sync",))
                after = {(r[0], r[1], r[2], r[3]): r for r in task_rows(top, second)}
                for victim in victims:
                    final = after[victim[:4]]
                    assert final[4] == "success" and final[5] == WORKERS[1] and final[6] > victim[6], \
                        f"killed task {victim[:4]} (try {victim[6]} on {victim[5]}) ended as {final[4:]}"
                targets = {e.target.split(".")[-1] for e in load_system(mappings / "crm").entities.values()}
                crm = [t for t in reference if t.split(".")[-1] in targets]
                assert len(crm) == len(targets), (targets, sorted(reference))
                got = snapshot(top.warehouse_url)
                assert_same_warehouse({t: got.get(t, []) for t in crm}, {t: reference[t] for t in crm},
                                      "after the worker was killed")
        assert not marked_processes(top.marker), "processes of the topology outlived the test"
    print(f"\ndistributed test: {time.monotonic() - started:.0f}s, {len(victims)} task(s) killed on "
          f"{WORKERS[0]} and retried on {WORKERS[1]}")
