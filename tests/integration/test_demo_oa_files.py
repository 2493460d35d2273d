"""The demo OA file drops on a real filesystem: determinism, counts, references, unreadable files.

Expected counts come from Oracle's POList.json itself and people from the HR SQL, so the checks do not
repeat the generator's logic.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from demo.hr_data import load_hr
from demo.oa_files import (
    APPROVAL_COLUMNS,
    DATA_FILE,
    TASK_COLUMNS,
    person_email,
    redeliver,
    write_bad_files,
    write_oa_drop,
)

REPO = Path(__file__).resolve().parents[2]


def checksums(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def read_approvals(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def decided_at(text: str) -> dt.datetime:
    for pattern in ("%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"):
        try:
            return dt.datetime.strptime(text, pattern)
        except ValueError:
            pass
    raise AssertionError(f"unexpected decided_at {text!r}")


@pytest.fixture(scope="module")
def drop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    landing = tmp_path_factory.mktemp("landing")
    write_oa_drop(landing, seed=42, batch=1)
    return landing


def test_same_seed_gives_identical_bytes(tmp_path: Path, drop: Path) -> None:
    written = write_oa_drop(tmp_path / "again", seed=42, batch=1)
    assert sorted(p.name for p in written) == sorted(checksums(drop))
    assert checksums(tmp_path / "again") == checksums(drop)
    other = checksums(Path(write_oa_drop(tmp_path / "other", seed=7)[0]).parent)
    assert other["approvals_1.csv"] != checksums(drop)["approvals_1.csv"]
    assert other["purchase_requests_1_1.json"] == checksums(drop)["purchase_requests_1_1.json"]
    assert not list(tmp_path.rglob(".*.part"))


def test_purchase_requests_hold_the_whole_dataset(drop: Path) -> None:
    source = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    assert (len(source), sum(len(d["LineItems"]) for d in source)) == (70, 308)
    docs = [d for p in sorted(drop.glob("purchase_requests_1_*.json"))
            for d in json.loads(p.read_text(encoding="utf-8"))]
    assert len(docs) == len(source) and sum(len(d["LineItems"]) for d in docs) == 308
    assert sorted(docs, key=lambda d: d["PONumber"]) == sorted(source, key=lambda d: d["PONumber"])
    assert len(list(drop.glob("purchase_requests_1_*.json"))) == 3


def test_approvals_reference_requests_and_hr_people(drop: Path) -> None:
    approvals = read_approvals(drop / "approvals_1.csv")
    assert list(approvals.columns) == APPROVAL_COLUMNS
    po_numbers = {str(d["PONumber"]) for d in json.loads(DATA_FILE.read_text(encoding="utf-8"))}
    assert set(approvals["request_id"]) <= po_numbers
    assert not approvals.duplicated(["request_id", "step"]).any()
    hr_people = {f"{e['first_name']} {e['last_name']}": e for e in load_hr()["employees"]}
    assert set(approvals["approver_name"]) <= set(hr_people)
    king = hr_people["Steven King"]
    assert person_email(king["first_name"], king["last_name"]) == "steven.king@hr.example"
    for row in approvals.itertuples():
        person = hr_people[row.approver_name]
        assert row.approver_email.lower() == person_email(person["first_name"], person["last_name"])
    assert set(approvals["decision"]) == {"approved", "rejected", "pending"}
    pending = approvals["decision"] == "pending"
    assert (approvals.loc[pending, "decided_at"] == "").all()
    stamps = approvals.loc[~pending, "decided_at"]
    assert all(decided_at(s) for s in stamps)
    assert stamps.str.contains("/").any() and stamps.str.match(r"\d{4}-").any()  # both formats occur


def test_tasks_follow_the_approval_steps(drop: Path) -> None:
    tasks = pd.read_excel(drop / "tasks_1.xlsx", sheet_name="tasks")
    approvals = read_approvals(drop / "approvals_1.csv")
    assert list(tasks.columns) == TASK_COLUMNS and len(tasks) == len(approvals)
    assert tasks["task_id"].is_unique and set(tasks["urgent"]) == {"Y", "N"}
    assert set(tasks["assignee_email"]) <= {e.lower() for e in approvals["approver_email"]}
    is_open = tasks["status"] == "open"
    assert tasks.loc[is_open, "completed_at"].isna().all()
    assert tasks.loc[~is_open, "completed_at"].notna().all()
    assert is_open.sum() == (approvals["decision"] == "pending").sum()
    assert pd.api.types.is_datetime64_any_dtype(tasks["due_date"])


def test_later_batch_decides_pending_steps_and_keeps_decisions(tmp_path: Path, drop: Path) -> None:
    write_oa_drop(tmp_path, seed=42, batch=2)
    first, second = read_approvals(drop / "approvals_1.csv"), read_approvals(tmp_path / "approvals_2.csv")
    decided = first[first["decision"] != "pending"]
    merged = decided.merge(second, on=["request_id", "step"], suffixes=("", "_2"))
    assert len(merged) == len(decided)
    for column in APPROVAL_COLUMNS[2:]:
        assert (merged[column] == merged[f"{column}_2"]).all(), column
    assert (second["decision"] == "pending").sum() < (first["decision"] == "pending").sum()


def test_bad_files_cannot_be_read(tmp_path: Path) -> None:
    paths = {p.name: p for p in write_bad_files(tmp_path)}
    with pytest.raises(pd.errors.ParserError, match="EOF inside string"):
        pd.read_csv(paths["approvals_bad_quoting.csv"])
    with pytest.raises(pd.errors.ParserError, match="Expected 4 fields"):
        pd.read_csv(paths["approvals_bad_columns.csv"])
    skipped = pd.read_csv(paths["approvals_bad_columns.csv"], on_bad_lines="skip")
    assert not set(APPROVAL_COLUMNS) <= set(skipped.columns)
    with pytest.raises(UnicodeDecodeError):
        pd.read_csv(paths["approvals_bad_encoding.csv"])
    assert "prüfen" in pd.read_csv(paths["approvals_bad_encoding.csv"], encoding="cp1252")["comment"][0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(paths["purchase_requests_bad_truncated.json"].read_text(encoding="utf-8"))
    with pytest.raises(zipfile.BadZipFile):
        pd.read_excel(paths["tasks_bad_truncated.xlsx"])


def test_redeliver_identical_or_with_one_value_changed(tmp_path: Path, drop: Path) -> None:
    original = checksums(drop)
    for name in original:
        (tmp_path / "same").mkdir(exist_ok=True)
        same = redeliver(tmp_path / "same", name)  # the landing file itself may be gone
        assert hashlib.sha256(same.read_bytes()).hexdigest() == original[name]
        fixed = redeliver(tmp_path / "fixed", name, corrected=True)
        assert fixed.name == name and fixed.read_bytes() != (drop / name).read_bytes()
    docs = json.loads((tmp_path / "fixed" / "purchase_requests_1_1.json").read_text(encoding="utf-8"))
    before = json.loads((drop / "purchase_requests_1_1.json").read_text(encoding="utf-8"))
    assert docs[0]["LineItems"][0]["Quantity"] == before[0]["LineItems"][0]["Quantity"] + 1
    docs[0]["LineItems"][0] = before[0]["LineItems"][0]
    assert docs == before
    for name, reader in (("approvals_1.csv", read_approvals), ("tasks_1.xlsx", pd.read_excel)):
        new, old = reader(tmp_path / "fixed" / name), reader(drop / name)
        changed = new.ne(old) & ~(new.isna() & old.isna())
        assert changed.to_numpy().sum() == 1, name
    with pytest.raises(ValueError, match="not a file of an OA drop"):
        redeliver(tmp_path, "approvals_bad_quoting.csv")


def test_cli_writes_a_drop(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo.oa_files", "--landing", str(tmp_path / "in"), "--bad"],
        cwd=REPO, capture_output=True, text=True, check=True)
    printed = [Path(line) for line in result.stdout.splitlines()]
    assert len(printed) == 10 and all(p.exists() for p in printed)
    assert {p.name for p in printed} >= {"approvals_1.csv", "tasks_1.xlsx", "approvals_bad_quoting.csv"}
