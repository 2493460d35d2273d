"""Crash tests that choose their own kill points (issue 9): SIGKILL a real sync at each step boundary,
inside the load, mid-extract and in the commit, retry as Airflow would, and compare with a clean run.

A survey run (`tests.helpers.crashrun`: CRM contacts from the demo CRM, with pages, phones, PII hashing
and quarantined rows) records every event it passes: step entries and exits, the load's inner writes,
each page request, the COMMIT. It is also the clean reference. Kill points are picked from that list
(the step boundaries, the load's writes, a page mid-walk, the commit itself and 5 ms into it), so a new
step or write becomes a new kill point without editing the test. For each point a fresh warehouse gets
a run killed there, then either an Airflow retry (same run id: the killed step and those after it, with
the results the earlier steps saved, as XComs) or the next scheduled run (new run id), in alternation.
The warehouse must then equal the clean one (target table, quarantine, watermark), the audit row of the
finishing run must be a success whose counts add up, and the killed run must leave no process behind.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from etl import steps
from etl.config.loader import load_system, mappings_dir
from etl.results import Extracted, Transformed, Validated
from tests.helpers.warehouse import assert_invariant, rows

ROOT = Path(__file__).resolve().parents[2]
SYSTEM, ENTITY, TARGET = "crm", "contacts", "stg_crm__contacts"
MAX_POINTS = 10
COUNTS = ("status", "extracted", "filtered", "quarantined", "inserted", "updated", "unchanged")


class Victim:
    """The crashrun process: one job per call, answered with the wait status and any orphans."""

    def __init__(self, log: Path) -> None:
        self.log = log.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.crashrun", SYSTEM, ENTITY], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready", self._tail()

    def run(self, **job: str) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, self._tail()
        return json.loads(line)

    def _tail(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-3000:]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.log.close()


@pytest.fixture(params=["duckdb", "postgresql"])
def fresh_warehouse(request, tmp_path):
    """A function returning a new, empty warehouse URL at each call."""
    if request.param == "duckdb":
        counter = iter(range(1000))
        return lambda: f"duckdb:///{tmp_path / f'w{next(counter)}.duckdb'}"
    from tests.conftest import pg_sibling_database, reset_pg

    url = pg_sibling_database(request.getfixturevalue("pg_url"), "crash")

    def fresh() -> str:
        reset_pg(url)
        return url

    return fresh


def kill_points(events: list[list[str]]) -> dict[str, str]:
    """Label -> kill_at of the interesting events: step boundaries, the load's writes, a page mid-walk,
    the data commit and 5 ms into it; at most MAX_POINTS, spread over the run."""
    points: dict[str, str] = {}
    for i, (kind, name) in enumerate(events):
        if name.startswith("load.") or (name.startswith("steps.") and kind == "exit"):
            points.setdefault(f"{kind} {name}", str(i))
    load_at = events.index(["enter", "steps.load"])
    commit = next(i for i, e in enumerate(events) if e == ["enter", "commit"] and i > load_at)
    pages = [i for i, e in enumerate(events) if e == ["exit", "extract.page"]]
    must = {"in the commit": str(commit), "5 ms into the commit": f"{commit}+5",
            "mid-extract": str(pages[len(pages) // 2])}
    rest = sorted(points.items(), key=lambda kv: int(kv[1]))
    step = max(1, -(-len(rest) // (MAX_POINTS - len(must))))
    return {**dict(rest[::step]), **must}


def snapshot(url: str) -> dict:
    from etl.layers import schema_of

    cols = [r[0] for r in rows(url, "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                                    "AND table_schema = :s ORDER BY ordinal_position", t=TARGET, s=schema_of(TARGET))]
    keep = ", ".join(f'"{c}"' for c in cols if not c.startswith("_") and c != "extras")
    return {"rows": [tuple(map(str, r)) for r in rows(url, f'SELECT {keep} FROM "{TARGET}" ORDER BY id')],
            "quarantine": sorted(set(rows(url, "SELECT primary_key, failed_rule, reason FROM etl_quarantine"))),
            "watermark": rows(url, "SELECT watermark FROM etl_state WHERE entity = :e", e=ENTITY)}


def airflow_retry(entity, run_id: str, url: str, results: Path) -> None:
    """What Airflow does after a task was killed: retry it, then run the tasks after it, each with the
    results (XComs) of the tasks that had finished."""
    ctx = steps.RunContext(run_id=run_id, warehouse_url=url)

    def saved(step: str, cls):
        path = results / f"{step}.json"
        return cls(**json.loads(path.read_text())) if path.exists() else None

    ex = saved("extract", Extracted) or steps.extract(entity, ctx)
    tr = saved("transform", Transformed) or steps.transform(entity, ctx)
    va = saved("validate", Validated) or steps.validate(entity, ctx, ex)
    steps.load(entity, ctx, ex, tr, va)


def test_sigkill_at_every_chosen_point_then_retry_equals_a_clean_run(crm_server, fresh_warehouse, tmp_path):
    entity = load_system(mappings_dir() / SYSTEM).entities[ENTITY]
    victim = Victim(tmp_path / "victim.log")
    try:
        clean_url = fresh_warehouse()
        survey = victim.run(run_id="clean", url=clean_url, events=str(tmp_path / "events.json"),
                            results=str(tmp_path / "clean"), kill_at="-1")
        assert survey == {"rc": 0, "orphans": []}, victim._tail()
        clean = snapshot(clean_url)
        assert clean["rows"] and clean["quarantine"] and clean["watermark"]
        points = kill_points(json.loads((tmp_path / "events.json").read_text()))
        assert len(points) >= 8, points
        failures = []
        for n, (label, at) in enumerate(points.items()):
            url, results = fresh_warehouse(), tmp_path / f"results{n}"
            answer = victim.run(run_id="run-1", url=url, events=str(tmp_path / f"events{n}.json"),
                                results=str(results), kill_at=at)
            assert answer["rc"] == signal.SIGKILL, (label, answer, victim._tail())
            assert not answer["orphans"], f"kill {label}: orphans {answer['orphans']}"
            if n % 2 == 0:
                retry_id = "run-1"
                airflow_retry(entity, retry_id, url, results)
            else:
                retry_id = "run-2"
                steps.run_entity(entity, steps.RunContext(run_id=retry_id, warehouse_url=url))
            audit = rows(url, f"SELECT {', '.join(COUNTS)} FROM etl_runs WHERE run_id = :r", r=retry_id)
            if snapshot(url) != clean:
                failures.append(f"kill {label} (event {at}) then {retry_id}: the warehouse differs from a clean run")
            elif not audit or audit[0][0] != "success":
                failures.append(f"kill {label} then {retry_id}: audit row {audit}")
            else:
                assert_invariant(dict(zip(COUNTS, audit[0], strict=True)))
        assert not failures, "\n".join(failures)
    finally:
        victim.close()
