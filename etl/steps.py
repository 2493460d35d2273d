"""The four steps of one entity's sync, as plain functions a DAG task (or a test) calls.

extract -> transform -> validate -> load. Each step reads the previous step's Arrow parts from the
run directory and returns a small dict (counts, watermark) for XCom. Only `load` writes business data,
and it writes the rows, the quarantine, the watermark and the audit row in one transaction. Any step
that fails marks the run `failed` in `etl_runs` with the error before re-raising.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from etl import runfiles
from etl.config.schema import Entity
from etl.load import audit
from etl.load.merge import bulk_append, ensure_target, merge_stage, stage_batches
from etl.load.warehouse import transaction
from etl.ops import progress
from etl.sources.factory import ExtractStats, iter_source_batches, source_hooks
from etl.transform.mapping import ERRORS, SRC_ROW, map_batch
from etl.transform.pii import protect

log = logging.getLogger("etl.steps")
INTERNAL = (ERRORS, SRC_ROW)


class DataQualityError(RuntimeError):
    """A table-level check failed: the batch as a whole is not fit to load."""


class InvariantError(RuntimeError):
    """The row accounting does not add up; loading would hide lost or invented rows."""


@dataclass(frozen=True)
class RunContext:
    run_id: str
    data_interval_start: str | None = None  # ISO; time-windowed sources read this window
    data_interval_end: str | None = None
    warehouse_url: str | None = None


def _folder(entity: Entity, ctx: RunContext, stage: str):
    return runfiles.entity_dir(entity.pipeline, ctx.run_id, entity.entity) / stage


def audited(step):
    """Record a failing step in etl_runs (status failed, the error text) and re-raise."""

    @functools.wraps(step)
    def wrapper(entity: Entity, ctx: RunContext, *args, **kwargs):
        try:
            return step(entity, ctx, *args, **kwargs)
        except Exception as exc:
            message = f"{step.__name__} failed: {type(exc).__name__}: {exc}"
            try:
                audit.mark_failed(ctx.run_id, entity.pipeline, entity.entity, message, ctx.warehouse_url)
            except Exception:  # the original error matters more than the audit write
                log.exception("could not record the failure in etl_runs")
            raise

    return wrapper


@audited
def extract(entity: Entity, ctx: RunContext) -> dict:
    started = time.monotonic()
    watermark = audit.start_run(ctx.run_id, entity.pipeline, entity.entity, ctx.warehouse_url)
    stats = ExtractStats()
    batches = progress.track(iter_source_batches(entity, watermark, stats, ctx),
                             f"{entity.system}.{entity.entity} extract", lambda: stats.total)
    files, rows = runfiles.write_parts(_folder(entity, ctx, "raw"), batches)
    seconds = time.monotonic() - started
    result = {"extracted": rows, "parts": files, "pages": stats.pages, "retries": stats.retries,
              "watermark_from": watermark, "watermark_to": stats.max_cursor or watermark,
              "extract_seconds": round(seconds, 3)}
    log.info("%s.%s extract: %d rows in %d pages (%d retries), %.0f rows/s, watermark %s -> %s",
             entity.system, entity.entity, rows, stats.pages, stats.retries, rows / max(seconds, 1e-9),
             watermark, result["watermark_to"])
    return result


def _mapped_parts(entity: Entity, ctx: RunContext, counter: dict):
    from etl.transform.conversions import load_rates

    rates = load_rates(entity, ctx.warehouse_url)  # once per run: the rate tables conversions join to
    for _, raw in runfiles.read_parts(_folder(entity, ctx, "raw")):
        mapped = map_batch(raw, entity, rates)
        counter["filtered"] += mapped.filtered
        counter["rows_out"] += mapped.table.num_rows
        yield mapped.table


@audited
def transform(entity: Entity, ctx: RunContext) -> dict:
    started = time.monotonic()
    counter = {"filtered": 0, "rows_out": 0}
    runfiles.write_parts(_folder(entity, ctx, "mapped"), _mapped_parts(entity, ctx, counter))
    log.info("%s.%s transform: %d rows out, %d filtered, %.2fs", entity.system, entity.entity,
             counter["rows_out"], counter["filtered"], time.monotonic() - started)
    return {**counter, "transform_seconds": round(time.monotonic() - started, 3)}


def _key_text(table: pa.Table, keys: list[str]) -> pa.Array:
    parts = [pc.cast(table[k], pa.string()) for k in keys]
    return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "|", null_handling="replace")


def _quarantine_rows(bad: pa.Table, raw: pa.Table, entity: Entity, rule: pa.Array, reason: pa.Array) -> pa.Table:
    records = raw.take(bad[SRC_ROW]).to_pylist()
    text = [orjson.dumps({k: v for k, v in r.items() if v is not None}).decode() for r in records]
    return pa.table({"primary_key": _key_text(bad, entity.primary_key), "failed_rule": rule,
                     "reason": reason, "record": pa.array(text, pa.string())})


def _any_null(table: pa.Table, columns: list[str]) -> pa.Array:
    mask = pc.is_null(table[columns[0]])
    for name in columns[1:]:
        mask = pc.or_(mask, pc.is_null(table[name]))
    return mask


def _split_part(entity: Entity, suite: dict, mapped: pa.Table, raw: pa.Table, failures: list[str]):
    from etl.quality.validate import validate_batch

    cast_bad = pc.is_valid(mapped[ERRORS])
    key_null = _any_null(mapped, entity.primary_key)  # built in: such a row can never be merged
    pre_bad = pc.or_(cast_bad, key_null)
    bad = mapped.filter(pre_bad)
    rule = pc.if_else(pc.is_null(bad[ERRORS]), "primary_key_not_null",
                      pc.if_else(pc.starts_with(bad[ERRORS], "cast("), "cast", "conversion"))
    reason = pc.coalesce(bad[ERRORS], f"primary key ({', '.join(entity.primary_key)}) is missing")
    quarantined = [_quarantine_rows(bad, raw, entity, rule, reason)] if bad.num_rows else []
    result = validate_batch(mapped.filter(pc.invert(pre_bad)), suite, entity.primary_key)
    failures.extend(result.table_failures)
    q = result.quarantined
    if q.num_rows:
        quarantined.append(_quarantine_rows(q, raw, entity, q["_failed_rule"], q["_reason"]))
    passed = result.valid
    for spec in entity.quality.checks:  # plug-in row checks (etl.plugins), after the suite
        passed = _plugin_check(spec, passed, raw, entity, quarantined)
    valid = protect(passed.drop_columns(list(INTERNAL)), entity)
    return valid, quarantined, result.seconds


def _plugin_check(spec, table: pa.Table, raw: pa.Table, entity: Entity, quarantined: list) -> pa.Table:
    """Rows the check returns False (or null) for are quarantined under the rule `plugin:<name>`."""
    from etl.plugins import check

    ok = pc.fill_null(pa.array(check(spec.check)(table, **spec.kwargs), pa.bool_()), False)
    bad = table.filter(pc.invert(ok))
    if bad.num_rows:
        n = bad.num_rows
        reason = spec.description or f"failed the plug-in check {spec.check!r}"
        quarantined.append(_quarantine_rows(bad, raw, entity, pa.array([f"plugin:{spec.check}"] * n),
                                            pa.array([reason] * n)))
    return table.filter(ok)


@audited
def validate(entity: Entity, ctx: RunContext, extracted: int) -> dict:
    from etl.quality.suites import load_suite, suite_path

    started = time.monotonic()
    suite = load_suite(suite_path(entity.quality.suite or entity.target))
    raw_folder = _folder(entity, ctx, "raw")
    valid_out = runfiles.PartWriter(_folder(entity, ctx, "valid"))
    q_out = runfiles.PartWriter(_folder(entity, ctx, "quarantine"))
    failures: list[str] = []
    dq_seconds = 0.0
    for path, mapped in runfiles.read_parts(_folder(entity, ctx, "mapped")):
        raw = runfiles.read_part(raw_folder / path.name)
        valid, quarantined, seconds = _split_part(entity, suite, mapped, raw, failures)
        valid_out.write(valid)
        for q in quarantined:
            q_out.write(q)
        dq_seconds += seconds
    valid_rows, q_rows = valid_out.rows, q_out.rows
    _table_checks(entity, extracted, valid_rows, q_rows, failures)
    log.info("%s.%s validate: %d valid, %d quarantined, suite %s, %.2fs", entity.system, entity.entity,
             valid_rows, q_rows, suite.get("name"), time.monotonic() - started)
    return {"valid": valid_rows, "quarantined": q_rows, "dq_seconds": round(dq_seconds, 3)}


def _table_checks(entity: Entity, extracted: int, valid: int, quarantined: int, failures: list[str]) -> None:
    problems = list(dict.fromkeys(failures))
    checked = valid + quarantined
    share_applies = checked >= max(entity.quality.share_min_rows, 1)
    if share_applies and quarantined / checked > entity.quality.max_quarantine_share:
        problems.append(
            f"{quarantined} of {checked} rows ({quarantined / checked:.1%}) failed their checks, above the "
            f"max_quarantine_share of {entity.quality.max_quarantine_share:.0%} set in the mapping; "
            "the source data looks broken, so nothing was loaded (see etl_quarantine-style files in the run dir)"
        )
    if entity.quality.fail_on_empty and extracted and checked and not valid:
        problems.append(f"the source returned {extracted} rows but none passed the checks")
    if problems:
        raise DataQualityError(f"{entity.system}.{entity.entity}: " + " | ".join(problems))


@audited
def load(entity: Entity, ctx: RunContext, counts: dict) -> dict:
    """Merge valid rows, store quarantine, advance the watermark and close the audit row: one transaction."""
    started = time.monotonic()
    valid_folder, q_folder = _folder(entity, ctx, "valid"), _folder(entity, ctx, "quarantine")
    hooks = source_hooks(entity)
    with transaction(ctx.warehouse_url) as conn:
        audit.ensure_control_tables(conn)
        if ensure_target(conn, entity) and entity.extras == "keep":
            from etl.load.extras import backfill  # a newly mapped custom field: fill old rows from extras

            backfill(conn, entity)
        staged = stage_batches(conn, entity, (t for _, t in runfiles.read_parts(valid_folder)))
        merged = merge_stage(conn, entity, staged, ctx.run_id, audit.now_utc())
        quarantined = _store_quarantine(conn, entity, ctx, q_folder)
        totals = {"extracted": counts["extracted"], "filtered": counts["filtered"], "quarantined": quarantined,
                  "inserted": merged.inserted, "updated": merged.updated, "unchanged": merged.unchanged}
        check_invariant(entity, totals)
        hooks.in_transaction(conn, entity, ctx)
        audit.write_watermark(conn, entity.pipeline, entity.entity, counts.get("watermark_to"), ctx.run_id)
        seconds = round(time.monotonic() - started + counts.get("elapsed", 0.0), 3)
        audit.finish_run(conn, ctx.run_id, entity.pipeline, entity.entity, totals,
                         {"watermark_to": counts.get("watermark_to"), "pages": counts.get("pages"),
                          "seconds": seconds})
    hooks.after_commit(entity, ctx)
    runfiles.remove(entity.pipeline, ctx.run_id, entity.entity)
    log.info("%s.%s load: %s, watermark %s, %.2fs", entity.system, entity.entity,
             ", ".join(f"{k} {v}" for k, v in totals.items()), counts.get("watermark_to"),
             time.monotonic() - started)
    return {**totals, "watermark_to": counts.get("watermark_to"), "target": entity.target}


def _store_quarantine(conn, entity: Entity, ctx: RunContext, folder) -> int:
    import sqlalchemy as sa

    conn.execute(sa.text("DELETE FROM etl_quarantine WHERE run_id = :r AND pipeline = :p AND entity = :e"),
                 {"r": ctx.run_id, "p": entity.pipeline, "e": entity.entity})
    total = 0
    for _, part in runfiles.read_parts(folder):
        n = part.num_rows
        meta = {"run_id": pa.array([ctx.run_id] * n), "pipeline": pa.array([entity.pipeline] * n),
                "entity": pa.array([entity.entity] * n)}
        rows = pa.table({**meta, **{c: part[c] for c in part.column_names},
                         "quarantined_at": pa.array([audit.now_utc()] * n, pa.timestamp("us"))})
        bulk_append(conn, "etl_quarantine", rows)
        total += n
    return total


def check_invariant(entity: Entity, totals: dict) -> None:
    accounted = sum(totals[k] for k in ("filtered", "quarantined", "inserted", "updated", "unchanged"))
    if accounted != totals["extracted"]:
        raise InvariantError(
            f"{entity.system}.{entity.entity}: extracted {totals['extracted']} rows but accounted for "
            f"{accounted} ({totals}); nothing was committed"
        )


def run_entity(entity: Entity, ctx: RunContext) -> dict:
    """All four steps in-process, as the DAG chains them (used by tests, the benchmark and the CLI)."""
    started = time.monotonic()
    ex = extract(entity, ctx)
    tr = transform(entity, ctx)
    va = validate(entity, ctx, ex["extracted"])
    result = load(entity, ctx, {**ex, **tr, **va, "elapsed": time.monotonic() - started})
    return {**result, "dq_seconds": va["dq_seconds"], "seconds": round(time.monotonic() - started, 3)}

