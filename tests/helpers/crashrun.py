"""The crash tests' victim: runs of one entity, each in a forked child that is SIGKILLed at a chosen event.

    python -m tests.helpers.crashrun <system> <entity>

The process imports everything once (a busy 2-core machine needs ~20 s for Great Expectations alone),
instruments the run from outside (nothing in `etl/` knows about it), makes itself the reaper of
orphans (PR_SET_CHILD_SUBREAPER) and prints `ready`. Then for each JSON line on stdin
`{"run_id", "url", "events", "results", "kill_at"}` it forks a child that runs the four steps as
Airflow would (each step's result saved to `results/<step>.json` once it returns, like an XCom) and
answers one JSON line `{"rc": <wait status>, "orphans": [command lines]}`.

Events are ("enter"/"exit", name) of the step functions, the load's inner writes, every page request,
and the warehouse COMMIT. `kill_at` = -1 only records them to `events` (the survey, also the clean
reference); n kills the child at the n-th event; "n+<ms>" starts a timer at the n-th event that kills
it `ms` later, which puts the kill inside the commit when event n is the commit. Orphans are the
processes the killed child left behind: reparented to this process, they must all exit on their own.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

EVENTS: list[list[str]] = []
KILL: dict[str, float] = {}
PR_SET_CHILD_SUBREAPER = 36


def _event(kind: str, name: str) -> None:
    EVENTS.append([kind, name])
    if len(EVENTS) - 1 == KILL.get("at"):
        delay = KILL.get("ms", 0.0)
        if delay:
            threading.Timer(delay / 1000, os.kill, (os.getpid(), signal.SIGKILL)).start()
        else:
            os.kill(os.getpid(), signal.SIGKILL)


def _wrap(owner: object, attr: str, name: str) -> None:
    original = getattr(owner, attr)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        _event("enter", name)
        result = original(*args, **kwargs)
        _event("exit", name)
        return result

    setattr(owner, attr, wrapper)


def instrument() -> None:
    import sqlalchemy as sa

    from etl import runfiles, state, steps
    from etl.load import audit, ledger
    from etl.quality import quarantine
    from etl.sources.http import HttpClient

    for step in ("extract", "transform", "validate", "load"):
        _wrap(steps, step, f"steps.{step}")
    for attr in ("stage_batches", "merge_stage", "check_invariant"):
        _wrap(steps, attr, f"load.{attr}")
    for owner, attr in ((quarantine, "store"), (ledger, "record_files"), (state, "write_watermark"),
                        (audit, "finish_run"), (ledger, "release_files"), (runfiles, "remove")):
        _wrap(owner, attr, f"load.{owner.__name__.rsplit('.', 1)[-1]}.{attr}")
    _wrap(HttpClient, "get_json", "extract.page")
    sa.event.listen(sa.engine.Engine, "commit", lambda conn: _event("enter", "commit"))


def run_steps(entity, run_id: str, url: str, results: Path) -> None:
    """The four steps in order, each result saved as Airflow keeps a task's XCom."""
    from etl import steps

    ctx = steps.RunContext(run_id=run_id, warehouse_url=url)
    results.mkdir(parents=True, exist_ok=True)
    ex = steps.extract(entity, ctx)
    (results / "extract.json").write_text(json.dumps(ex.as_dict()))
    tr = steps.transform(entity, ctx)
    (results / "transform.json").write_text(json.dumps(tr.as_dict()))
    va = steps.validate(entity, ctx, ex)
    (results / "validate.json").write_text(json.dumps(va.as_dict()))
    steps.load(entity, ctx, ex, tr, va)


def _children() -> set[int]:
    me = str(os.getpid())
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] not in ("Z", "X"):
            found.add(int(pid))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


def _reap(timeout_s: float = 60.0) -> list[str]:
    """Wait for the killed child's orphans (now ours) to exit; the command lines of those that do not."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        left = _children()
        if not left or time.monotonic() > deadline:
            return [_cmdline(p) for p in left]
        time.sleep(0.2)


def serve(system: str, entity_name: str) -> None:
    import great_expectations  # noqa: F401 - imported once here, not in every trial

    from etl.config.loader import load_system, mappings_dir
    from etl.quality import validate  # noqa: F401
    from etl.transform import mapping  # noqa: F401

    instrument()
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    entity = load_system(mappings_dir() / system).entities[entity_name]
    answers = os.fdopen(os.dup(1), "w")  # the protocol keeps stdout; anything else printed goes to stderr
    os.dup2(2, 1)
    print("ready", file=answers, flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            answers.close()
            _child(entity, job)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"rc": status, "orphans": _reap()}), file=answers, flush=True)


def _child(entity, job: dict) -> None:
    code = 0
    try:
        EVENTS.clear()
        if job["kill_at"] != "-1":
            at, _, ms = job["kill_at"].partition("+")
            KILL.update(at=int(at), ms=float(ms or 0))
        run_steps(entity, job["run_id"], job["url"], Path(job["results"]))
        if KILL.get("ms"):
            time.sleep(5)  # a timer kill is on its way
    except BaseException:  # noqa: BLE001 - reported by exit code and stderr
        traceback.print_exc()
        code = 1
    finally:
        Path(job["events"]).write_text(json.dumps(EVENTS))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve(*sys.argv[1:3])
