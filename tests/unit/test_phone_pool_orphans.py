"""Issue 9, defect 10: the phone-formatting pool and its resource tracker die with a killed parent.

A child Python process formats numbers in a loop through the pool (so the workers are busy), reports
its process tree, and is SIGKILLed mid-work; every process below it must be gone soon after.
Before the fix the workers waited on their queue forever (and kept the resource tracker alive).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.procs import cmdline, descendants, wait_gone

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
from etl.transform import phones
pairs = [(f"+1 650 253 {i % 10000:04d}", "US") for i in range(40_000)]
phones.format_all(pairs)
print("pool up", flush=True)
while True:
    phones.format_all(pairs)
"""


def test_killing_the_parent_leaves_no_pool_process(tmp_path) -> None:
    env = {**os.environ, "ETL_TRANSFORM_WORKERS": "3", "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "pool up", child.stderr.read() if child.stderr else ""
        deadline = time.monotonic() + 60
        tree = descendants(child.pid)
        while len(tree) < 3 and time.monotonic() < deadline:  # two workers and the resource tracker
            time.sleep(0.2)
            tree = descendants(child.pid)
        assert len(tree) >= 3, {p: cmdline(p) for p in tree}
        time.sleep(0.5)  # mid-work
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        left = wait_gone(tree)
        assert not left, f"orphans after SIGKILL of the parent: {[cmdline(p) for p in left]}"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
