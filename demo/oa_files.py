"""Demo OA system: the files it drops into a landing folder, as a file-based source for the pipelines.

Unlike the CRM and HR demos there is no API: an office-automation (OA) system exports files and the
ETL has to find, parse and load each one exactly once. A drop (``write_oa_drop``) holds

* ``purchase_requests_<batch>_<n>.json`` - Oracle's purchase-order documents (nested LineItems),
  a full snapshot split into files of 25 documents;
* ``approvals_<batch>.csv`` - the approval workflow so far (one row per decided or pending step);
* ``tasks_<batch>.xlsx`` - the OA task list behind those approval steps.

Approvers are real people from the demo HR data, mailed as ``firstname.lastname@hr.example`` so
identities can be matched across systems. A higher batch is a later snapshot of the same workflow:
steps decided earlier keep their values, pending steps get decided. Everything is derived from the
seed and batch (never the clock), so the same arguments give byte-identical files. ``write_bad_files``
adds files a loader must quarantine, and ``redeliver`` re-sends a file, as is or corrected.

CLI: ``python -m demo.oa_files --landing var/oa/landing [--seed 42] [--batch 1] [--bad]``.
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime as dt
import io
import random
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import orjson
from openpyxl import Workbook

from demo.hr_data import load_hr

DATA_FILE = Path(__file__).parent / "data" / "oracle_po" / "POList.json"
DOCS_PER_FILE = 25
EMAIL_DOMAIN = "hr.example"
APPROVAL_COLUMNS = ["request_id", "step", "approver_email", "approver_name", "decision", "decided_at",
                    "comment"]
TASK_COLUMNS = ["task_id", "request_id", "title", "assignee_email", "status", "due_date", "completed_at",
                "urgent"]
FIRST_WEEK = dt.datetime(2026, 3, 2, 8, 0)  # batch b's decisions start b-1 weeks later
FINANCE_THRESHOLD = 500.0  # order total above which Finance signs off as a last step
URGENT = {"Expidite", "Next Day Air", "Priority Overnight"}  # the dataset's own spelling
FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)
COMMENTS = {
    "approved": ["", "", "", "OK", "Approved within budget", "Budget prüfen – Kostenstelle {cost_center}",
                 'Approved; "{shipping}" is costly, use Ground next time', "Checked against quote, price ok"],
    "rejected": ["Rejected: over budget for cost centre {cost_center}", "Duplicate request",
                 'No "{shipping}" for this order, please resubmit'],
}
_NAME = re.compile(r"^(purchase_requests|approvals|tasks)_(\d+)(?:_\d+)?\.(json|csv|xlsx)$")


def load_purchase_orders(path: Path = DATA_FILE) -> list[dict]:
    return orjson.loads(path.read_bytes())


def person_email(first_name: str, last_name: str) -> str:
    """Steven King -> steven.king@hr.example; Jose Manuel Urman -> jose.manuel.urman@hr.example."""
    local = re.sub(r"[^a-z0-9]+", ".", f"{first_name} {last_name}".lower()).strip(".")
    return f"{local}@{EMAIL_DOMAIN}"


@dataclass(frozen=True)
class Step:
    """One planned approval step; ``batch`` is the drop in which it is decided (None: never)."""

    order: dict
    step: int
    approver: dict
    decision: str
    batch: int | None
    opened_at: dt.datetime
    decided_at: dt.datetime
    day_first: bool
    messy_email: bool
    comment: str

    @property
    def email(self) -> str:
        return person_email(self.approver["first_name"], self.approver["last_name"])

    def approval_row(self, decided: bool) -> dict:
        email = self.email
        if self.messy_email:  # some OA users typed their address by hand
            email = ".".join(p.capitalize() for p in email.split("@")[0].split(".")) + "@" + EMAIL_DOMAIN
        stamp = self.decided_at.strftime("%d/%m/%Y %H:%M" if self.day_first else "%Y-%m-%d %H:%M")
        return {"request_id": self.order["PONumber"], "step": self.step, "approver_email": email,
                "approver_name": f"{self.approver['first_name']} {self.approver['last_name']}",
                "decision": self.decision if decided else "pending",
                "decided_at": stamp if decided else "", "comment": self.comment if decided else ""}

    def task_row(self, decided: bool) -> dict:
        po = self.order["PONumber"]
        return {"task_id": f"T-{po:05d}-{self.step}", "request_id": po,
                "title": f"Approve purchase request {po} ({self.order['Reference']})",
                "assignee_email": self.email, "status": "completed" if decided else "open",
                "due_date": (self.opened_at + dt.timedelta(days=5)).date(),
                "completed_at": self.decided_at if decided else None,
                "urgent": "Y" if self.order.get("Special Instructions") in URGENT else "N"}


def _approvers(order: dict, hr: dict[str, list[dict]]) -> list[dict]:
    """Requester's manager and theirs, then Finance for large orders; unknown users go to Purchasing."""
    by_id = {e["employee_id"]: e for e in hr["employees"]}
    by_email = {e["email"]: e for e in hr["employees"]}
    heads = {d["department_name"]: by_id[d["manager_id"]] for d in hr["departments"] if d["manager_id"]}
    chain: list[dict] = []
    person = by_email.get(order["User"])
    if person is None:
        chain.append(heads["Purchasing"])
    else:
        while len(chain) < 2 and person.get("manager_id"):
            person = by_id[person["manager_id"]]
            chain.append(person)
    total = sum(i["Part"]["UnitPrice"] * i["Quantity"] for i in order["LineItems"])
    if total > FINANCE_THRESHOLD and heads["Finance"] not in chain:
        chain.append(heads["Finance"])
    return chain


def _office_time(after: dt.datetime, rng: random.Random) -> dt.datetime:
    """A weekday working-hours moment on one of the next few days, strictly after ``after``."""
    day = dt.datetime.combine(after.date(), dt.time()) + dt.timedelta(days=rng.randint(0, 3))
    moment = day + dt.timedelta(hours=rng.randint(8, 17), minutes=rng.randint(0, 59))
    while moment <= after or moment.weekday() >= 5:
        moment += dt.timedelta(days=1)
    return moment


def plan_approvals(order: dict, hr: dict[str, list[dict]], seed: int) -> list[Step]:
    """The whole future of one request's workflow, fixed by (seed, PONumber) alone."""
    rng = random.Random(f"{seed}:{order['PONumber']}")
    opened = FIRST_WEEK - dt.timedelta(days=3, hours=rng.randint(0, 48))
    batch: int | None = 1 + (rng.random() < 0.3)
    steps = []
    for number, approver in enumerate(_approvers(order, hr), start=1):
        roll = rng.random()
        decision = "rejected" if roll < 0.1 else "approved"
        if batch is not None and roll > 0.95:
            batch = None  # stuck in someone's inbox for good
        decided = _office_time(max(opened, FIRST_WEEK + dt.timedelta(weeks=(batch or 1) - 1)), rng)
        comment = rng.choice(COMMENTS[decision]).format(cost_center=order["CostCenter"],
                                                        shipping=order.get("Special Instructions", ""))
        steps.append(Step(order, number, approver, decision, batch, opened, decided,
                          day_first=rng.random() < 0.5, messy_email=rng.random() < 0.1, comment=comment))
        opened = decided
        if batch is not None:
            batch += rng.random() < 0.5
    return steps


def visible_steps(orders: list[dict], seed: int, batch: int) -> list[tuple[Step, bool]]:
    """(step, decided) pairs the OA shows in drop ``batch``: decided steps, then the pending one."""
    hr = load_hr()
    visible = []
    for order in orders:
        for step in plan_approvals(order, hr, seed):
            decided = step.batch is not None and step.batch <= batch
            visible.append((step, decided))
            if not decided or step.decision == "rejected":
                break
    return visible


def build_drop(seed: int = 42, batch: int = 1) -> dict[str, tuple[str, list]]:
    """File name -> (kind, rows) for one drop, before serialisation."""
    orders = load_purchase_orders()
    files: dict[str, tuple[str, list]] = {}
    for n, start in enumerate(range(0, len(orders), DOCS_PER_FILE), start=1):
        files[f"purchase_requests_{batch}_{n}.json"] = ("json", orders[start:start + DOCS_PER_FILE])
    steps = visible_steps(orders, seed, batch)
    files[f"approvals_{batch}.csv"] = ("csv", [s.approval_row(decided) for s, decided in steps])
    files[f"tasks_{batch}.xlsx"] = ("xlsx", [s.task_row(decided) for s, decided in steps])
    return files


def _csv_bytes(rows: list[dict], columns: list[str] = APPROVAL_COLUMNS, encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def _xlsx_bytes(rows: list[dict]) -> bytes:
    workbook = Workbook()
    workbook.properties.created = dt.datetime(*FIXED_ZIP_TIME)
    sheet = workbook.worksheets[0]
    sheet.title = "tasks"
    sheet.append(TASK_COLUMNS)
    for row in rows:
        sheet.append([row[c] for c in TASK_COLUMNS])
    for cell in sheet["G"][1:]:
        cell.number_format = "yyyy-mm-dd hh:mm"
    raw = io.BytesIO()
    workbook.save(raw)
    # openpyxl stamps "modified" and zip entry times with the clock; pin both for identical bytes.
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-01-01T00:00:00Z", data)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def serialise(kind: str, rows: list) -> bytes:
    if kind == "json":
        return orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n"
    return _csv_bytes(rows) if kind == "csv" else _xlsx_bytes(rows)


def _folder(landing):
    """A local folder (a str or Path), or a staging path / URL such as `s3://bucket/oa/landing`."""
    from etl import staging

    if isinstance(landing, str):
        return staging.resolve(landing) if staging.is_remote_url(landing) else Path(landing)
    return landing


def _write(landing, name: str, content: bytes):
    """Write so a watcher never sees half a file (locally a hidden temp file and a rename)."""
    from etl import staging

    landing = _folder(landing)
    staging.mkdirs(landing)
    target = landing / name
    staging.write_atomic(target, content)
    return target


def write_oa_drop(landing, seed: int = 42, batch: int = 1, bad: bool = False) -> list:
    """Write one OA export into ``landing``; with ``bad`` also the unreadable files."""
    written = [_write(landing, name, serialise(kind, rows))
               for name, (kind, rows) in build_drop(seed, batch).items()]
    return written + (write_bad_files(landing) if bad else [])


def bad_files() -> dict[str, bytes]:
    """Files a loader must refuse: each breaks a different reader, none can be loaded as is."""
    good = [{"request_id": 1, "step": 1, "approver_email": "adam.fripp@hr.example",
             "approver_name": "Adam Fripp", "decision": "approved", "decided_at": "2026-03-02 09:15",
             "comment": "OK"}]
    quoting = _csv_bytes(good) + b'2,1,adam.fripp@hr.example,Adam Fripp,approved,2026-03-02 09:20,' \
        b'"Budget ok, see ""memo\r\n3,1,adam.fripp@hr.example,Adam Fripp,pending,,\r\n'
    columns = b"request,approver,result,when\r\n1,adam.fripp@hr.example,approved,2026-03-02\r\n" \
        b"2,adam.fripp@hr.example,approved,2026-03-02,09:20,late entry\r\n"
    first_docs = serialise("json", load_purchase_orders()[:DOCS_PER_FILE])
    tasks = _xlsx_bytes(build_drop()["tasks_1.xlsx"][1])
    return {
        "approvals_bad_quoting.csv": quoting,  # a quoted field never closed
        "approvals_bad_columns.csv": columns,  # foreign header, and a row with extra fields
        "approvals_bad_encoding.csv": _csv_bytes([{**good[0], "comment": "Budget prüfen – ok"}],
                                                 encoding="cp1252"),  # not UTF-8
        "purchase_requests_bad_truncated.json": first_docs[: len(first_docs) // 2],
        "tasks_bad_truncated.xlsx": tasks[: len(tasks) // 2],
    }


def write_bad_files(landing) -> list:
    return [_write(landing, name, data) for name, data in bad_files().items()]


def _correct(kind: str, rows: list) -> list:
    """Change exactly one value of the first record, as a source system's fix would."""
    rows = copy.deepcopy(rows)
    if kind == "json":
        rows[0]["LineItems"][0]["Quantity"] += 1.0
    elif kind == "csv":
        rows[0]["comment"] = f"{rows[0]['comment']} (corrected)".strip()
    else:
        rows[0]["due_date"] += dt.timedelta(days=1)
    return rows


def redeliver(landing, name: str, corrected: bool = False, seed: int = 42):
    """Write drop file ``name`` again (it may have been moved away): identical, or with one fix."""
    match = _NAME.match(name)
    files = build_drop(seed, int(match.group(2))) if match else {}
    if name not in files:
        raise ValueError(f"{name!r} is not a file of an OA drop; expected e.g. purchase_requests_1_1.json, "
                         "approvals_1.csv or tasks_1.xlsx")
    kind, rows = files[name]
    return _write(landing, name, serialise(kind, _correct(kind, rows) if corrected else rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", required=True, help="folder (or s3://... URL) the OA drops files into")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch", type=int, default=1, help="later batches are later snapshots")
    parser.add_argument("--bad", action="store_true", help="also write unreadable files")
    parser.add_argument("--redeliver", metavar="NAME", help="re-send one file of the drop instead")
    parser.add_argument("--corrected", action="store_true", help="with --redeliver: change one value")
    args = parser.parse_args(argv)
    if args.redeliver:
        paths = [redeliver(args.landing, args.redeliver, args.corrected, args.seed)]
    else:
        paths = write_oa_drop(args.landing, args.seed, args.batch, args.bad)
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
