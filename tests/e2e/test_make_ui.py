"""`make ui`'s launcher on a fresh home with nothing activated: the api-server first, the other components
once it is healthy, and Ctrl-C (SIGINT) stops every process it started."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.airflow


def _lines_until(proc: subprocess.Popen, marker: str, deadline_s: float = 600) -> list[str]:
    seen: list[str] = []
    end = time.monotonic() + deadline_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < end and proc.poll() is None:
            if sel.select(timeout=1):
                line = proc.stdout.readline()
                seen.append(line)
                if marker in line:
                    return seen
    raise AssertionError(f"no {marker!r} line; output so far: {''.join(seen)}")


def test_ui_launcher_starts_in_order_and_stops_everything(tmp_path):
    from demo.airflow_procs import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV"))}
    env.update(PATH="/usr/bin:/bin", PYTHONPATH=str(ROOT), AIRFLOW_HOME=str(tmp_path / "home"),
               AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"))
    proc = subprocess.Popen([sys.executable, "-m", "demo.standalone", "--port", str(port), "--no-sources"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    children: list[psutil.Process] = []
    try:
        out = _lines_until(proc, "scheduler, dag-processor and triggerer started")
        assert any(f"Airflow UI: http://localhost:{port}" in line and "api-server healthy after" in line
                   for line in out)
        children = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children if c.is_running())
        for component in ("api_server", "scheduler", "dag-processor", "triggerer"):  # api-server renames itself
            assert component in names.replace("api-server", "api_server")
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=300)[0]
    finally:
        if proc.poll() is None:  # a failed assertion: let the launcher clean up, then make sure
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
        for child in children:
            if child.is_running():
                child.kill()
    assert proc.returncode == 0, rest
    assert "stopping Airflow" in rest and "stopped in" in rest
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [c.cmdline() for c in alive]
    assert (tmp_path / "home" / "logs" / "ui" / "scheduler.log").exists()
