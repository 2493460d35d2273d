"""One outbound sync run: plan (select, map, diff) in the warehouse, then deliver, then account.

1. plan: one warehouse transaction reads the selection in Arrow batches, maps each into run-scoped
   part files, stages keys and hashes and runs the diff join. The mirror guard and every pre-send
   rejection (failed cast, missing relationship, duplicate key) are decided here, before anything leaves.
2. deliver: changed rows go to the target in chunks; after each chunk, in one short transaction, push
   state for every accepted record, the rejects (reason, payload with PII protected) and the running
   counters of the audit row commit together. Every record sent must come back with exactly one outcome
   before its chunk commits. A SIGKILL loses at most the chunk in flight, which the next run sends again
   by external id (idempotent), so the target never holds a duplicate.
   Before anything is sent, every selected row must be placed in exactly one class (to send, unchanged,
   refused before sending, held, duplicate): with one outcome per sent record per chunk, this makes
   `selected = created + updated + unchanged + rejected` hold before any state commits.
3. account: `selected = created + updated + unchanged + rejected` is checked again; the run is `success`,
   or `failed` with the reason (a broken invariant, too many rejects, the mirror guard, a TargetError).

The warehouse is never held open while the target is called (DuckDB has one writer per file).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from etl import runfiles, staging
from etl.config.outbound import Sync
from etl.load import push_audit as ps
from etl.load.warehouse import transaction
from etl.push import diff as diffing
from etl.push.commit import Checkpoints, protect_payload, removal_verb, scrub
from etl.push.inflight import OneInFlight
from etl.push.select import KEY, REASON, map_selection, read_batches
from etl.targets.base import Record

log = logging.getLogger("etl.push")


def chunk_size(sync: Sync) -> int:
    """Records per state commit, i.e. the most a crash makes the next run send again: one batch request
    of a batch endpoint or SQL target, else 100 single writes; a file target commits once, at the end."""
    return getattr(sync.target, "batch_size", 100) if getattr(sync.target, "batch_path", True) else 100


class PushError(RuntimeError):
    """The run stopped for a reason a retry will not fix (guard, reject share, invariant)."""


@dataclass
class PushResult:
    sync: str
    run_id: str
    status: str
    counts: dict[str, int]
    requests: int = 0
    samples: dict[str, list] = field(default_factory=dict)  # dry run: a few payloads per action
    error: str | None = None


def _folder(sync: Sync, run_id: str):
    return runfiles.entity_dir(sync.dag_id, run_id, "plan")


def _plan(sync: Sync, run_id: str, url: str | None, dry_run: bool):
    from etl.load.rates import read_rates

    rates = read_rates(sync.entity, url)
    folder = _folder(sync, run_id)
    writer = runfiles.PartWriter(folder)
    filtered = selected = presend = 0
    with transaction(url) as conn:
        ps.ensure_push_tables(conn)
        ps.start_run(conn, run_id, sync.sync, sync.target.kind, sync.mode, dry_run)
        parts = []
        for batch in read_batches(conn, sync):
            table, dropped = map_selection(sync, batch, rates)
            filtered += dropped
            selected += table.num_rows
            presend += table.num_rows - table[REASON].null_count
            parts.append((writer.files, table.select([KEY, "_row_hash", REASON])))
            writer.write(table)
        diffing.stage(conn, parts)
        plan = diffing.compute(conn, sync.sync, sync.mode == "mirror", sync.resend_rejected == "always")
        plan.presend = presend
        ps.set_counts(conn, run_id, sync.sync, {"selected": selected, "filtered": filtered,
                                                "unchanged": plan.unchanged})
    reconcile_plan(sync.sync, plan, selected)  # after the commit: the run's row exists to be marked failed
    return folder, plan, selected, filtered


def reconcile_plan(name: str, plan: diffing.Diff, selected: int) -> None:
    """The first half of the reconciliation, before any record is sent or any state commits."""
    if plan.accounted() != selected:
        raise PushError(f"{name}: selected {selected} rows but the plan places {plan.accounted()} (send "
                        f"{plan.changes.num_rows}, unchanged {plan.unchanged}, held {plan.held.num_rows}, "
                        f"duplicate {plan.duplicates.num_rows}, refused {plan.presend}); nothing was sent")


def _guard(sync: Sync, plan: diffing.Diff) -> None:
    deletes, base = plan.deletes.num_rows, max(plan.state_rows, 1)
    if deletes and deletes / base > sync.max_delete_share:
        raise PushError(f"{sync.sync}: mirror would delete {deletes} of {plan.state_rows} records "
                        f"({deletes / base:.0%}), above max_delete_share {sync.max_delete_share:.0%}; "
                        "nothing was sent (check the selection, or raise the share in the YAML)")


def _records(sync: Sync, folder, plan: diffing.Diff, size: int | None = None):
    """Yield (records to send, their hashes by key, pre-send rejects as (key, reason, payload)) in part
    order, at most `size` records at a time: payload dicts are built a chunk ahead of the call in flight
    rather than a whole part before the first call. A part's pre-send rejects come with its first chunk."""
    changes, dups = plan.changes, plan.duplicates
    for number, path in enumerate(runfiles.part_paths(folder)):
        table = runfiles.read_part(path)
        payload_cols = [c for c in table.column_names if not c.startswith("_")]
        bad = table.filter(pc.is_valid(table[REASON]))
        pre = [(k, r, p) for k, r, p in zip(bad[KEY].to_pylist(), bad[REASON].to_pylist(),
                                            bad.select(payload_cols).to_pylist(), strict=True)]
        dup_rows = dups.filter(pc.equal(dups["part"], number))["row_no"] if dups.num_rows else pa.array([], pa.int64())
        if len(dup_rows):
            d = table.take(dup_rows)
            pre += [(k, f"key {k!r} is selected more than once; fix the selection so each key is one row", p)
                    for k, p in zip(d[KEY].to_pylist(), d.select(payload_cols).to_pylist(), strict=True)]
        held = plan.held.filter(pc.equal(plan.held["part"], number)) if plan.held.num_rows else plan.held
        if held.num_rows:
            h = table.take(held["row_no"])
            pre += [(k, f"{why} (refused before with this same content: sent again once it changes)", p)
                    for k, why, p in zip(held["key"].to_pylist(), held["reason"].to_pylist(),
                                         h.select(payload_cols).to_pylist(), strict=True)]
        mine = changes.filter(pc.equal(changes["part"], number)) if changes.num_rows else changes
        rows = table.take(mine["row_no"]) if mine.num_rows else table.slice(0, 0)
        step = size or max(mine.num_rows, 1)
        for start in range(0, max(mine.num_rows, 1), step):
            m, r = mine.slice(start, step), rows.slice(start, step)
            keys = m["key"].to_pylist()
            recs = [Record(k, p, a, t) for k, p, a, t in zip(
                keys, r.select(payload_cols).to_pylist(), m["action"].to_pylist(), m["target_id"].to_pylist(),
                strict=True)]
            yield recs, dict(zip(keys, r["_row_hash"].to_pylist(), strict=True)), pre if start == 0 else []


def _deliver(sync: Sync, run_id: str, url, target, folder, plan) -> int:
    """Send the plan; returns how many removals (mirror) the target refused."""
    only_existing, size = sync.mode == "update", chunk_size(sync)
    done = Checkpoints(sync, run_id, url, background=True)
    calls = OneInFlight(done)
    deferred = sync.target.kind == "file"
    all_recs: list[Record] = []  # deferred: every record, settled when the file is finished
    all_hashes: dict = {}
    try:
        for recs, hashes, pre in _records(sync, folder, plan, size):  # chunks of at most `size`
            done.add([], {}, [], pre)
            if recs:
                calls.submit(lambda chunk: target.write(chunk, only_existing), recs, hashes, deferred)
            if deferred:
                all_recs += recs
                all_hashes.update(hashes)
        calls.drain()
        if deferred:
            calls.submit(lambda _: target.finish(), all_recs, all_hashes)
            calls.drain()
        dels = [Record(k, {}, "delete", t) for k, t in zip(plan.deletes["key"].to_pylist(),
                                                            plan.deletes["target_id"].to_pylist(), strict=True)]
        for start in range(0, len(dels), size):
            calls.submit(target.delete, dels[start:start + size], {})
        calls.drain()
    finally:
        calls.close()
        done.flush()  # what the target accepted before a failure keeps its state
    return done.refused_removals


def _account(sync: Sync, run_id: str, url, requests: int, seconds: float, refused_removals: int = 0) -> PushResult:
    with transaction(url) as conn:
        counts = ps.run_counts(conn, run_id, sync.sync)
        accounted = counts["created"] + counts["updated"] + counts["unchanged"] + counts["rejected"]
        error = None
        if accounted != counts["selected"]:
            error = (f"{sync.sync}: selected {counts['selected']} but created + updated + unchanged + rejected "
                     f"= {accounted} ({counts}); push state of the accepted records is kept")
        # the share of the whole selection that cannot be delivered (a share of what changed would read
        # 100% on an idle run where only the waiting rejects are left)
        selected = counts["selected"]
        share = counts["rejected"] / selected if selected else 0.0
        if not error and selected >= max(sync.quality.share_min_rows, 1) and share > sync.quality.max_reject_share:
            error = (f"{sync.sync}: {counts['rejected']} of {selected} selected records ({share:.0%}) are rejected, "
                     f"above max_reject_share {sync.quality.max_reject_share:.0%}; see etl_push_rejects for run "
                     f"{run_id}")
        if not error and refused_removals:  # mirror's promise not kept: the run must not read as success
            noun = "deactivation" if removal_verb(sync) == "deactivate" else "deletion"
            error = (f"{sync.sync}: {refused_removals} {noun}(s) refused by the target, see etl_push_rejects for "
                     f"run {run_id}; their state is kept, so the next run tries again")
        ps.finish_run(conn, run_id, sync.sync, "failed" if error else "success", requests, seconds, error)
    return PushResult(sync.sync, run_id, "failed" if error else "success", counts, requests, error=error)


def _fail(sync: Sync, run_id: str, url, message: str, requests: int, seconds: float) -> None:
    try:
        with transaction(url) as conn:
            ps.ensure_push_tables(conn)
            ps.finish_run(conn, run_id, sync.sync, "failed", requests, seconds, message)
    except Exception:  # the original error matters more than the audit write
        log.exception("could not record the failure in etl_push_runs")


def dry_run(sync: Sync, run_id: str, url: str | None = None, samples: int = 3) -> PushResult:
    """What a run would send (creates, updates, deletes, rejects, a few payloads); the target is not called."""
    started = time.monotonic()
    folder, plan, selected, filtered = _plan(sync, run_id, url, dry_run=True)
    try:
        counts = {"selected": selected, "filtered": filtered, "unchanged": plan.unchanged,
                  "created": 0, "updated": 0, "deleted": plan.deletes.num_rows, "rejected": 0}
        shown: dict[str, list] = {"create": [], "update": [], "reject": []}
        for recs, _, pre in _records(sync, folder, plan):
            counts["rejected"] += len(pre)
            for r in recs:
                counts["created" if r.action == "create" else "updated"] += 1
                if len(shown[r.action]) < samples:
                    shown[r.action].append({"external_id": r.key, **orjson.loads(protect_payload(sync, r.payload))})
            shown["reject"] += [{"external_id": k, "reason": scrub(sync, why, p)} for k, why, p in pre][:samples]
        shown["delete"] = plan.deletes["key"].to_pylist()[:samples]
        with transaction(url) as conn:
            ps.set_counts(conn, run_id, sync.sync, counts)
            ps.finish_run(conn, run_id, sync.sync, "dry_run", 0, time.monotonic() - started)
        return PushResult(sync.sync, run_id, "dry_run", counts, 0, shown)
    finally:
        staging.remove_tree(folder)


def push(sync: Sync, run_id: str, url: str | None = None) -> PushResult:
    """Run the sync; raises PushError / TargetError (after recording the run as failed) when it stops."""
    from etl.targets import open_target

    started = time.monotonic()
    target = None
    try:
        folder, plan, _, _ = _plan(sync, run_id, url, dry_run=False)
        if sync.mode == "mirror":
            _guard(sync, plan)
        target = open_target(sync, run_id)
        refused_removals = _deliver(sync, run_id, url, target, folder, plan)
        result = _account(sync, run_id, url, target.requests, time.monotonic() - started, refused_removals)
    except Exception as exc:
        _fail(sync, run_id, url, f"{type(exc).__name__}: {exc}", getattr(target, "requests", 0),
              time.monotonic() - started)
        raise
    finally:
        if target is not None:
            target.close()
    staging.remove_tree(_folder(sync, run_id))
    log.info("%s: %s", sync.sync, ", ".join(f"{k} {v}" for k, v in result.counts.items()))
    if result.error:
        raise PushError(result.error)
    return result
