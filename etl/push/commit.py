"""The commit side of delivery: what the target accepted becomes push state, rejects and audit counts.

Apart from `etl.push.run` because this is the one place where an outcome turns into state, and its
rules are the guarantees: state commits only for records the target accepted (so a refused or unsent
record goes out again next run); a write the target refused is counted `rejected` (it is part of the
selection, so `selected = created + updated + unchanged + rejected` keeps holding); a deletion or
deactivation the target refused (mirror) is NOT a selected row, so it is never counted `rejected`: it
is recorded in etl_push_rejects with the target's reason, keeps its state (the next run tries again)
and is counted apart so the run can fail instead of reading as a mirror that did its job.
Personal data is masked in stored payloads and scrubbed from stored reasons here, and nowhere else.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

import orjson
import pyarrow as pa

from etl import state
from etl.config.outbound import Sync
from etl.load import push_audit as ps
from etl.load.warehouse import transaction
from etl.targets.base import Outcome, Record
from etl.transform.pii import mask_values

COMMIT_EVERY_S = 2.0  # push state checkpoints: at most this many seconds of accepted records uncommitted


def mask(value) -> str:
    """'jane.doe@x.com' -> 'j***@x.com', 'Jane' -> 'J***': enough to recognise, too little to harvest."""
    text = str(value)
    return mask_values(pa.array([text]))[0].as_py() if "@" in text else text[:1] + "***"


def protect_payload(sync: Sync, payload: dict) -> str:
    """The payload as stored with a reject or shown by a dry run: `pii_fields` masked."""
    shown = {k: (mask(v) if k in sync.pii_fields and v is not None else v) for k, v in payload.items()}
    return orjson.dumps(shown, default=str).decode()


def scrub(sync: Sync, reason: str, payload: dict) -> str:
    """A target may echo a value in its message: personal values never reach the rejects table."""
    for name in sync.pii_fields:
        value = payload.get(name)
        if value is not None and len(str(value)) > 2:
            reason = reason.replace(str(value), "***")
    return reason


def removal_verb(sync: Sync) -> str:
    """'deactivate' when the mirror target switches records off, else 'delete' (for messages)."""
    return "deactivate" if getattr(sync.target, "deactivate", None) else "delete"


def commit(sync: Sync, run_id: str, url, recs: list[Record], hashes: dict, outcomes: list[Outcome],
           pre: list[tuple]) -> tuple[dict[str, int], int]:
    """One short transaction: state, rejects and counters of checked outcomes. Returns the audit
    counts added and the number of refused removals (counted apart, see the module doc)."""
    by_key = {r.key: r for r in recs}
    counts = {"created": 0, "updated": 0, "deleted": 0, "rejected": len(pre)}
    accepted, forgotten, rejects, refused = [], [], [], []
    refused_removals = 0
    for o in outcomes:
        rec = by_key.get(o.key)
        if o.status in ("created", "updated"):
            accepted.append((o.key, hashes[o.key], o.target_id))
        elif o.status == "deleted":
            forgotten.append(o.key)
        elif rec is not None and rec.action == "delete":
            refused_removals += 1  # state kept as it is: the removal is tried again next run
            rejects.append((o.key, f"{removal_verb(sync)} refused: {o.reason or 'refused by the target'}", "{}"))
            continue
        else:
            p = rec.payload if rec is not None else {}
            why = scrub(sync, o.reason or "rejected", p)
            rejects.append((o.key, why, protect_payload(sync, p)))
            refused.append((o.key, hashes[o.key], why))
        counts[o.status] += 1
    rejects += [(k, scrub(sync, r, p), protect_payload(sync, p)) for k, r, p in pre]
    with transaction(url) as conn:
        state.accept_pushed(conn, sync.sync, run_id, accepted)
        state.refuse_pushed(conn, sync.sync, refused)
        state.forget_pushed(conn, sync.sync, forgotten)
        ps.reject(conn, run_id, sync.sync, rejects)
        ps.add_counts(conn, run_id, sync.sync, counts)
    return counts, refused_removals


class Checkpoints:
    """Commits checked chunks at most every `COMMIT_EVERY_S` seconds (and at the end): opening the
    warehouse per chunk cost more than the HTTP call on DuckDB, and a crash resends at most those
    seconds' worth of records, which the external-id writes make harmless.

    `background=True` (delivery): the periodic commits run in order on one committer thread, so the
    calling thread keeps the target busy instead of waiting for the warehouse (a DuckDB commit, with
    its open and close, takes several HTTP calls' time). A failed commit is raised at the next `add`
    or at `flush`; `flush` (the end, or after a failure) waits for every commit handed over, then
    commits the rest itself."""

    def __init__(self, sync: Sync, run_id: str, url, background: bool = False) -> None:
        self.sync, self.run_id, self.url = sync, run_id, url
        self.recs: list[Record] = []
        self.hashes: dict = {}
        self.outcomes: list[Outcome] = []
        self.pre: list[tuple] = []
        self.last = time.monotonic()
        self.refused_removals = 0
        self.background = background
        self.handed: list[Future] = []
        self.pool: ThreadPoolExecutor | None = None

    def add(self, recs: list[Record], hashes: dict, outcomes: list[Outcome], pre: list[tuple]) -> None:
        self.recs += recs
        self.hashes.update(hashes)  # the chunk's keys (a superset is harmless: looked up by outcome)
        self.outcomes += outcomes
        self.pre += pre
        for done in [f for f in self.handed if f.done()]:
            self.handed.remove(done)
            done.result()  # a failed background commit stops the run here
        if time.monotonic() - self.last >= COMMIT_EVERY_S:
            if self.background:
                if self.pool is None:
                    self.pool = ThreadPoolExecutor(1, thread_name_prefix="etl-push-commit")
                self.handed.append(self.pool.submit(self._commit, *self._take()))
            else:
                self._commit(*self._take())

    def flush(self) -> None:
        try:
            while self.handed:
                self.handed.pop(0).result()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)
                self.pool = None
        self._commit(*self._take())

    def _take(self) -> tuple:
        taken = (self.recs, self.hashes, self.outcomes, self.pre)
        self.recs, self.hashes, self.outcomes, self.pre = [], {}, [], []
        self.last = time.monotonic()
        return taken

    def _commit(self, recs: list[Record], hashes: dict, outcomes: list[Outcome], pre: list[tuple]) -> None:
        if recs or outcomes or pre:
            _, refused = commit(self.sync, self.run_id, self.url, recs, hashes, outcomes, pre)
            self.refused_removals += refused
