"""Run one measured program in a fresh subprocess; return its RESULT plus its peak memory.

Peak memory is taken two ways and the larger is reported: the kernel's `ru_maxrss` for the child (from
`os.wait4`, exact, but the maximum of single processes, not their sum) and the largest sum of RSS over
the child's process tree, sampled every 20 ms from /proc (catches helper processes such as dlt's
normalize workers running side by side). The demo server is started by the runner, not by the
program, so it is never part of either figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

SAMPLE_S = 0.02
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


class ProgramFailed(RuntimeError):
    pass


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return kids


def _tree_rss_kb(root: int) -> int:
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_KB
        except (OSError, IndexError, ValueError):
            continue
        todo += _children(pid)
    return total


def run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> dict:
    """Run `cmd`; return its RESULT dict with `wall_s`, `peak_rss_mb`, `maxrss_mb`, `tree_peak_rss_mb`."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))
            done.wait(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out_chunks: list[str] = []
    err_chunks: list[str] = []
    readers = [threading.Thread(target=lambda s=s, c=c: c.append(s.read()), daemon=True)
               for s, c in ((proc.stdout, out_chunks), (proc.stderr, err_chunks))]
    for r in readers:
        r.start()
    deadline = time.monotonic() + timeout
    while True:  # wait4 (not Popen.wait) to get the child's own rusage
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.01)
    done.set()
    sampler.join()
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    stdout, stderr = "".join(out_chunks), "".join(err_chunks)
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise ProgramFailed(f"{' '.join(cmd[:4])} ... exited {proc.returncode}:\n{stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    maxrss = usage.ru_maxrss / 1024
    tree = peak[0] / 1024
    result.update(wall_s=round(wall, 3), maxrss_mb=round(maxrss, 1), tree_peak_rss_mb=round(tree, 1),
                  peak_rss_mb=round(max(maxrss, tree), 1))
    return result
