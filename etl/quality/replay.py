"""Quarantine replay: after a mapping or suite fix, send an entity's open quarantined rows through
transform, validation and merge again, as a run of its own.

- Rows that now pass are merged and leave the quarantine; rows that fail again get a new quarantine
  row (under the replay's run id) with their new reason. Nothing is deleted: every replayed row keeps
  its original reason and is marked `replayed_at`, `replay_run_id`, `replay_outcome` (loaded,
  quarantined, filtered, superseded).
- A row whose key was loaded *after* it was quarantined is `superseded`: the source has since sent a
  newer version, and replaying the old one would overwrite it. It counts as unchanged.
- Personal fields are stored sealed (see `etl.quality.quarantine`); replay opens them with
  `ETL_QUARANTINE_KEY` (else the key derived from `ETL_PII_SALT`). With another key the replay stops
  with an error naming the variable, before anything is written.
- The replay writes its own `etl_runs` row and satisfies the same invariant as a sync
  (extracted = filtered + quarantined + inserted + updated + unchanged), in one transaction with the
  data and the quarantine changes. The watermark is not touched.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from etl import state
from etl.config.schema import Entity
from etl.load import audit
from etl.load.merge import ensure_target, merge_stage, stage_batches
from etl.load.warehouse import engine_for, existing_columns, has_table, quote, transaction, warehouse_url
from etl.quality import quarantine

log = logging.getLogger(__name__)
OPEN = "replayed_at IS NULL"


def list_quarantine(url: str | None = None, pipeline: str | None = None, entity: str | None = None,
                    open_only: bool = True, limit: int = 50) -> list[tuple]:
    """(quarantined_at, run_id, pipeline, entity, primary_key, failed_rule, reason, replay_outcome)."""
    where: list[str] = []
    params: dict[str, object] = {"n": limit}
    if pipeline:
        where.append("pipeline = :p")
        params["p"] = pipeline
    if entity:
        where.append("entity = :e")
        params["e"] = entity
    if open_only:
        where.append(OPEN)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with engine_for(url or warehouse_url()).connect() as conn:
        if not has_table(conn, "etl_quarantine"):
            return []
        audit_ready(conn)
        sql = (f"SELECT quarantined_at, run_id, pipeline, entity, primary_key, failed_rule, reason, replay_outcome "
               f"FROM etl_quarantine {clause} ORDER BY quarantined_at DESC, entity, primary_key LIMIT :n")
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def audit_ready(conn) -> None:
    """Old warehouses lack the replay columns: reading through a read-only path must not fail."""
    if "replayed_at" not in existing_columns(conn, "etl_quarantine"):
        raise RuntimeError("etl_quarantine predates replay; run any sync (or `etl quarantine replay`) once")


def _open_rows(conn, entity: Entity) -> list[tuple]:
    rows = conn.execute(sa.text(
        f"SELECT run_id, primary_key, record, quarantined_at FROM etl_quarantine "
        f"WHERE pipeline = :p AND entity = :e AND {OPEN} ORDER BY quarantined_at, run_id"),
        {"p": entity.pipeline, "e": entity.entity})
    return [tuple(r) for r in rows]


def _raw_table(records: list) -> pa.Table:
    """The stored records back as a raw batch: every value text, as the source step hands it over, its
    sealed personal fields opened again (`etl.transform.pii.unseal`, the key from the environment)."""
    from etl.transform.pii import unseal

    dicts = [orjson.loads(r) if isinstance(r, str | bytes) else (r or {}) for r in records]
    names = list(dict.fromkeys(k for d in dicts for k in d))
    def text(v):
        return None if v is None else unseal(v) if isinstance(v, str) else orjson.dumps(v).decode()
    return pa.table({n: pa.array([text(d.get(n)) for d in dicts], pa.string()) for n in names})


def _loaded_after(conn, entity: Entity, keys: pa.Array, since) -> dict[str, Any]:
    """Keys of the target loaded after `since` (and when): their quarantined versions are superseded."""
    if not existing_columns(conn, entity.target):
        return {}
    parts = [f"CAST({quote(k)} AS VARCHAR)" for k in entity.primary_key]
    key_sql = parts[0] if len(parts) == 1 else " || '|' || ".join(parts)
    rows = conn.execute(sa.text(f"SELECT {key_sql}, _loaded_at FROM {quote(entity.target)} "
                                f"WHERE _loaded_at > :t"), {"t": since})
    wanted = set(k for k in keys.to_pylist() if k is not None)
    return {k: t for k, t in rows if k in wanted}


def replay(entity: Entity, url: str | None = None, run_id: str | None = None) -> dict:
    """Replay every open quarantined row of `entity`; return the replay run's counts."""
    from etl import steps
    from etl.load.rates import read_rates
    from etl.quality.suites import load_suite, suite_path
    from etl.transform.mapping import SRC_ROW, map_batch

    if entity.write_mode == "replace":
        raise ValueError(f"{entity.system}.{entity.entity} is a full refresh (write_mode: replace): its next run "
                         "re-reads every row, quarantined ones included; there is nothing to replay")
    url = url or warehouse_url()
    started = time.monotonic()
    run_id = run_id or f"replay__{audit.now_utc().strftime('%Y%m%dT%H%M%S%f')}"
    suite = load_suite(suite_path(entity.quality.suite or entity.target))
    rates = read_rates(entity, url)
    try:
        with transaction(url) as conn:
            audit.ensure_control_tables(conn)
            result = _replay_in(conn, entity, run_id, suite, rates, steps, map_batch, SRC_ROW)
    except Exception as exc:
        audit.mark_failed(run_id, entity.pipeline, entity.entity, f"replay failed: {type(exc).__name__}: {exc}", url)
        raise
    log.info("%s.%s replay %s: %s in %.2fs", entity.system, entity.entity, run_id,
             ", ".join(f"{k} {v}" for k, v in result.items() if isinstance(v, int)), time.monotonic() - started)
    return result


def _replay_in(conn, entity: Entity, run_id: str, suite: dict, rates, steps, map_batch, src_row) -> dict:
    now = audit.now_utc()
    rows = _open_rows(conn, entity)
    watermark = state.read_watermark(conn, entity.pipeline, entity.entity)
    totals = dict.fromkeys(audit.COUNTS, 0)
    totals["extracted"] = len(rows)
    outcome = ["filtered"] * len(rows)
    if rows:
        raw = _raw_table([r[2] for r in rows])
        mapped = map_batch(raw, entity, rates)
        totals["filtered"] = mapped.filtered
        table = mapped.table
        keys = quarantine.key_text(table, entity.primary_key)
        newer = _loaded_after(conn, entity, keys, min(r[3] for r in rows))
        positions = table[src_row].to_pylist()
        superseded = [k is not None and k in newer and newer[k] > rows[p][3]
                      for k, p in zip(keys.to_pylist(), positions, strict=True)]
        for p, gone in zip(positions, superseded, strict=True):
            outcome[p] = "superseded" if gone else "loaded"
        table = table.filter(pc.invert(pa.array(superseded, pa.bool_())))
        part = quarantine.split(entity, suite, table, raw)  # table-level checks: n/a
        valid, quarantined = part.valid, part.refused
        again = {k for q in quarantined for k in q["primary_key"].to_pylist()}
        for p, k in zip(table[src_row].to_pylist(), quarantine.key_text(table, entity.primary_key).to_pylist(),
                        strict=True):
            if k is None or k in again:
                outcome[p] = "quarantined"
        ensure_target(conn, entity)
        merged = merge_stage(conn, entity, stage_batches(conn, entity, [valid]), run_id, now)
        _close(conn, entity, rows, outcome, run_id, now)
        totals["quarantined"] = quarantine.store(conn, entity, run_id, quarantined, now, replace=False)
        totals.update(inserted=merged.inserted, updated=merged.updated,
                      unchanged=merged.unchanged + sum(superseded))
    steps.check_invariant(entity, totals)
    conn.execute(sa.text(
        "INSERT INTO etl_runs (run_id, pipeline, entity, status, started_at, watermark_from) "
        "VALUES (:r, :p, :e, 'running', :t, :w)"),
        {"r": run_id, "p": entity.pipeline, "e": entity.entity, "t": now, "w": watermark})
    audit.finish_run(conn, run_id, entity.pipeline, entity.entity, totals,
                     {"watermark_to": watermark, "pages": 0, "seconds": None})
    released = sum(1 for o in outcome if o in ("loaded", "superseded"))
    return {**totals, "run_id": run_id, "released": released, "outcomes": outcome}


def _close(conn, entity: Entity, rows: list[tuple], outcome: list[str], run_id: str, now) -> None:
    """Mark the replayed rows (history kept), each with what became of it."""
    params = [{"o": o, "r": run_id, "t": now, "run": r[0], "k": r[1], "q": r[3], "p": entity.pipeline,
               "e": entity.entity} for r, o in zip(rows, outcome, strict=True)]
    conn.execute(sa.text(
        f"UPDATE etl_quarantine SET replayed_at = :t, replay_run_id = :r, replay_outcome = :o "
        f"WHERE pipeline = :p AND entity = :e AND run_id = :run AND quarantined_at = :q AND {OPEN} "
        f"AND (primary_key = :k OR (primary_key IS NULL AND CAST(:k AS VARCHAR) IS NULL))"), params)
