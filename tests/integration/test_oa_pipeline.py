"""The OA file sync in-process on a real landing folder, into DuckDB and PostgreSQL: a drop with unreadable
files, an identical re-delivery, a corrected re-delivery, shared files, and a file changing mid-run.

Expected counts are read from the dropped files themselves (csv, openpyxl, json), not from the mappings.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from demo.oa_files import bad_files, redeliver, write_oa_drop
from etl.config.loader import load_system, mappings_dir
from etl.steps import RunContext, extract, load, run_entity, transform, validate
from tests.helpers.warehouse import assert_invariant, rows, runs

GOOD = ["approvals_1.csv", "purchase_requests_1_1.json", "purchase_requests_1_2.json",
        "purchase_requests_1_3.json", "tasks_1.xlsx"]
REASONS = {  # what each unreadable file's reason file must say
    "approvals_bad_quoting.csv": "unclosed quote",
    "approvals_bad_columns.csv": "line 3 has 6 fields, the header has 4",
    "approvals_bad_encoding.csv": "not valid utf-8 text",
    "purchase_requests_bad_truncated.json": "not valid JSON",
    "tasks_bad_truncated.xlsx": "not a readable XLSX workbook",
}


@pytest.fixture
def landing(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ETL_DATA_DIR", str(tmp_path / "var"))
    return tmp_path / "var" / "oa" / "landing"  # mappings/oa: landing oa/landing under ETL_DATA_DIR


def entities() -> dict:
    return load_system(mappings_dir() / "oa").entities


def sync(url: str, run_id: str, only: tuple[str, ...] = ()) -> dict:
    for name, entity in entities().items():
        if not only or name in only:
            run_entity(entity, RunContext(run_id=run_id, warehouse_url=url))
    return runs(url, run_id)


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def expected_counts(landing: Path) -> dict[str, int]:
    docs = [d for p in sorted(landing.glob("purchase_requests_1_*.json")) for d in json.loads(p.read_text())]
    sheet = load_workbook(landing / "tasks_1.xlsx", read_only=True).worksheets[0]
    return {"approvals": len(read_csv(landing / "approvals_1.csv")),
            "tasks": sum(1 for _ in sheet.iter_rows()) - 1,
            "purchase_requests": len(docs),
            "purchase_request_lines": sum(len(d["LineItems"]) for d in docs),
            "bad_references": sum(not re.fullmatch(r"[A-Z]+-\d{8}", d["Reference"]) for d in docs)}


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file()} if folder.exists() else set()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_drop_redelivery_and_correction(landing, warehouse):
    url = warehouse
    write_oa_drop(landing, seed=42, batch=1, bad=True)
    want = expected_counts(landing)
    assert want["bad_references"] == 1 and want["purchase_request_lines"] == 308

    # ---- the drop: good files loaded, unreadable ones rejected with their reason
    first = sync(url, "oa-1")
    for entity, run in first.items():
        assert run["status"] == "success" and run["filtered"] == 0, run
        assert run["extracted"] == want[entity], (entity, run)  # rejected files add no rows
        assert_invariant(run)
    assert first["purchase_requests"]["quarantined"] == want["bad_references"]
    assert sum(r["quarantined"] for r in first.values()) == want["bad_references"]
    for entity in first:
        loaded = want[entity] - (want["bad_references"] if entity == "purchase_requests" else 0)
        assert rows(url, f"SELECT count(*) FROM stg_oa__{entity}") == [(loaded,)], entity

    assert files_in(landing) == set()
    assert files_in(landing / "processed") == set(GOOD)
    assert files_in(landing / "rejected") == set(REASONS) | {f"{n}.reason.txt" for n in REASONS}
    for name, reason in REASONS.items():
        text = (landing / "rejected" / f"{name}.reason.txt").read_text()
        assert reason in text and "oa-1" in text, (name, text)
    ledger = rows(url, "SELECT entity, file_name, status, reason FROM etl_files WHERE run_id = 'oa-1'")
    statuses = {(e, f): s for e, f, s, _ in ledger}
    assert statuses[("approvals", "approvals_bad_quoting.csv")] == "rejected"
    assert statuses[("purchase_requests", "purchase_requests_bad_truncated.json")] == "rejected"
    assert statuses[("purchase_request_lines", "purchase_requests_bad_truncated.json")] == "rejected"
    assert sum(s == "loaded" for s in statuses.values()) == 8  # 3 JSON files x 2 entities + csv + xlsx
    assert sum(s == "rejected" for s in statuses.values()) == 6  # the truncated JSON for both entities

    # ---- typed as the mappings say: both date formats, lower-cased e-mails, Y/N
    undated = "SELECT count(*) FROM stg_oa__approvals WHERE decision <> 'pending' AND decided_at IS NULL"
    assert rows(url, undated) == [(0,)]
    raw = read_csv(landing / "processed" / "approvals_1.csv")
    day_first = next(r for r in raw if "/" in r["decided_at"])
    day, month, rest = day_first["decided_at"].split("/")
    year, time = rest.split(" ")
    decided = rows(url, "SELECT decided_at FROM stg_oa__approvals WHERE request_id = :r AND step = :s",
                   r=int(day_first["request_id"]), s=int(day_first["step"]))[0][0]
    assert decided.strftime("%Y-%m-%d") == f"{year}-{month}-{day}"  # Europe/Berlin -> UTC keeps the day here
    assert rows(url, "SELECT count(*) FROM stg_oa__approvals WHERE approver_email <> lower(approver_email)") \
        == [(0,)]
    assert any(r["approver_email"] != r["approver_email"].lower() for r in raw)  # there was something to fix
    sheet = load_workbook(landing / "processed" / "tasks_1.xlsx", read_only=True).worksheets[0]
    urgent = sum(1 for r in sheet.iter_rows(min_row=2, values_only=True) if r[7] == "Y")
    assert rows(url, "SELECT count(*) FROM stg_oa__tasks WHERE urgent") == [(urgent,)]
    assert rows(url, "SELECT count(DISTINCT source_file) FROM stg_oa__purchase_request_lines") == [(3,)]

    # ---- an identical re-delivery is recorded as a duplicate, not loaded again
    redeliver(landing, "approvals_1.csv")
    second = sync(url, "oa-2")
    assert all(r["extracted"] == 0 for r in second.values()), second
    ledger = rows(url, "SELECT entity, status FROM etl_files WHERE run_id = 'oa-2'")
    assert ledger == [("approvals", "duplicate")]
    assert files_in(landing) == set() and files_in(landing / "processed") == set(GOOD)

    # ---- a corrected re-delivery replaces its predecessor's rows: changed row updated, dropped row deleted
    before = sha256(landing / "processed" / "approvals_1.csv")
    fixed = [dict(r) for r in raw]
    fixed[0]["comment"] = "corrected by the OA team"
    dropped = fixed.pop()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(raw[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(fixed)
    (landing / "approvals_1.csv").write_text(buffer.getvalue(), encoding="utf-8", newline="")
    redeliver(landing, "purchase_requests_1_1.json", corrected=True)  # one line's quantity + 1
    third = sync(url, "oa-3")
    approvals = third["approvals"]
    counts = (approvals["extracted"], approvals["updated"], approvals["unchanged"])
    assert counts == (len(fixed), 1, len(fixed) - 1)
    assert rows(url, "SELECT count(*) FROM stg_oa__approvals") == [(len(fixed),)]
    assert rows(url, "SELECT count(*) FROM stg_oa__approvals WHERE request_id = :r AND step = :s",
                r=int(dropped["request_id"]), s=int(dropped["step"])) == [(0,)]
    assert rows(url, "SELECT comment FROM stg_oa__approvals WHERE request_id = :r AND step = :s",
                r=int(fixed[0]["request_id"]), s=int(fixed[0]["step"])) == [("corrected by the OA team",)]
    replaced = "SELECT replaces, deleted FROM etl_files WHERE run_id = 'oa-3' AND entity = 'approvals'"
    assert rows(url, replaced) == [(before, 1)]
    lines = third["purchase_request_lines"]
    assert (lines["updated"], lines["inserted"], lines["extracted"]) == (1, 0, lines["unchanged"] + 1)
    assert third["purchase_requests"]["updated"] == 0  # the parent's own fields did not change
    assert files_in(landing) == set()
    assert files_in(landing / "processed") == set(GOOD) | {f"approvals_1.{before[:12]}.csv",
                                                          f"purchase_requests_1_1.{_old_sha(landing)}.json"}


def _old_sha(landing: Path) -> str:
    kept = [p.name for p in (landing / "processed").glob("purchase_requests_1_1.*.json")]
    assert len(kept) == 1, kept
    return kept[0].split(".")[1]


def test_a_shared_file_waits_for_every_entity_reading_it(landing, tmp_duckdb_url):
    write_oa_drop(landing, seed=42, batch=1)
    shared = {n for n in GOOD if n.startswith("purchase_requests")}
    sync(tmp_duckdb_url, "p-1", only=("purchase_requests",))
    assert shared <= files_in(landing)  # purchase_request_lines has not read them yet
    sync(tmp_duckdb_url, "p-2", only=("purchase_request_lines",))
    assert not shared & files_in(landing) and shared <= files_in(landing / "processed")

    # Both have them now: a re-delivery is a duplicate for both, and moves on at once.
    redeliver(landing, "purchase_requests_1_2.json")
    again = sync(tmp_duckdb_url, "p-3", only=("purchase_requests", "purchase_request_lines"))
    assert all(r["extracted"] == 0 for r in again.values())
    assert files_in(landing) == {"approvals_1.csv", "tasks_1.xlsx"}  # not run: stay


def test_a_file_replaced_during_the_run_stays_for_the_next_run(landing, tmp_duckdb_url):
    write_oa_drop(landing, seed=42, batch=1)
    entity = entities()["tasks"]
    ctx = RunContext(run_id="t-1", warehouse_url=tmp_duckdb_url)
    ex = extract(entity, ctx)
    tr = transform(entity, ctx)
    va = validate(entity, ctx, ex)
    redeliver(landing, "tasks_1.xlsx", corrected=True)  # the OA re-sends while we load the first version
    load(entity, ctx, ex, tr, va)
    assert "tasks_1.xlsx" in files_in(landing)
    run_entity(entity, RunContext(run_id="t-2", warehouse_url=tmp_duckdb_url))
    assert runs(tmp_duckdb_url, "t-2")["tasks"]["updated"] == 1
    assert files_in(landing) - {n for n in GOOD if n != "tasks_1.xlsx"} == set()


def test_bad_files_alone_reject_and_load_nothing(landing, tmp_duckdb_url):
    for name, data in bad_files().items():
        landing.mkdir(parents=True, exist_ok=True)
        (landing / name).write_bytes(data)
    result = sync(tmp_duckdb_url, "b-1")
    assert all(r["status"] == "success" and r["extracted"] == 0 for r in result.values())
    assert files_in(landing) == set()
    reasons = {p.name for p in (landing / "rejected").glob("*.reason.txt")}
    assert reasons == {f"{n}.reason.txt" for n in REASONS}
