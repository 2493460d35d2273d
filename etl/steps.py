"""The four steps of one entity's sync, as plain functions an Airflow task (or a test) calls.

extract -> transform -> validate -> load. Each step reads the previous step's Arrow parts from the
run's staging area (`etl.runfiles`) and returns a small typed result (`etl.results`). Only `load` writes
business data, and it writes the rows, the quarantine, the file ledger, the watermark and the audit row
in one transaction. Any step that fails marks the run `failed` in `etl_runs` with the error before
re-raising. Where things live: sources read (`etl.sources`), transform maps (`etl.transform`), quality
refuses (`etl.quality.quarantine`), load writes (`etl.load`), state remembers (`etl.state`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from typing import TypeVar

from etl import runfiles, staging, state
from etl.config.schema import Entity
from etl.load import audit, ledger
from etl.load.merge import ensure_target, merge_stage, stage_batches
from etl.load.warehouse import transaction
from etl.ops import progress
from etl.quality import cursor, quarantine
from etl.quality.quarantine import DataQualityError
from etl.redact import scrub
from etl.results import Extracted, Loaded, RunContext, Transformed, Validated
from etl.sources.base import ExtractStats
from etl.sources.factory import open_source

log = logging.getLogger("etl.steps")
__all__ = ["DataQualityError", "InvariantError", "RunContext", "extract", "transform", "validate", "load",
           "run_entity", "check_invariant"]


class InvariantError(RuntimeError):
    """The row accounting does not add up; loading would hide lost or invented rows."""


def _folder(entity: Entity, ctx: RunContext, stage: str):
    return runfiles.entity_dir(entity.pipeline, ctx.run_id, entity.entity) / stage


def audited(step):
    """Record a failing step in etl_runs (status failed, the error text) and re-raise."""

    @functools.wraps(step)
    def wrapper(entity: Entity, ctx: RunContext, *args, **kwargs):
        try:
            return step(entity, ctx, *args, **kwargs)
        except Exception as exc:
            scrub(exc)
            message = f"{step.__name__} failed: {type(exc).__name__}: {exc}"
            try:
                audit.mark_failed(ctx.run_id, entity.pipeline, entity.entity, message, ctx.warehouse_url)
            except Exception:  # the original error matters more than the audit write
                log.exception("could not record the failure in etl_runs")
            raise

    return wrapper


@audited
def extract(entity: Entity, ctx: RunContext) -> Extracted:
    started = time.monotonic()
    watermark, done = audit.begin(ctx.run_id, entity.pipeline, entity.entity, ctx.warehouse_url)
    if done is not None:
        log.info("%s.%s: run %s already committed; nothing to read again", entity.system, entity.entity, ctx.run_id)
        return Extracted(extracted=done["extracted"], parts=0, pages=done["pages"] or 0, retries=0,
                         watermark_from=done["watermark_from"], watermark_to=done["watermark_to"], seconds=0.0)
    stats = ExtractStats()
    source = open_source(entity, ctx, ledger.history(entity, ctx.warehouse_url))
    batches = progress.track(source.batches(watermark, stats), f"{entity.system}.{entity.entity} extract",
                             lambda: stats.total)
    files, rows = runfiles.write_parts(_folder(entity, ctx, "raw"), batches)
    seconds = time.monotonic() - started
    result = Extracted(extracted=rows, parts=files, pages=stats.pages, retries=stats.retries,
                       watermark_from=watermark, watermark_to=stats.max_cursor or watermark,
                       seconds=round(seconds, 3))
    log.info("%s.%s extract: %d rows in %d pages (%d retries), %.0f rows/s, watermark %s -> %s",
             entity.system, entity.entity, rows, stats.pages, stats.retries, rows / max(seconds, 1e-9),
             watermark, result.watermark_to)
    return result


def _mapped_parts(entity: Entity, ctx: RunContext, counter: dict[str, int]):
    if not runfiles.part_paths(_folder(entity, ctx, "raw")):
        return  # nothing new (the common incremental run): no mapping module, no pandas to import
    from etl.load.rates import read_rates
    from etl.transform.mapping import map_batch

    rates = read_rates(entity, ctx.warehouse_url)  # once per run: the rate tables conversions join to
    for _, raw in runfiles.read_parts(_folder(entity, ctx, "raw")):
        mapped = map_batch(raw, entity, rates)
        counter["filtered"] += mapped.filtered
        counter["rows_out"] += mapped.table.num_rows
        yield mapped.table


@audited
def transform(entity: Entity, ctx: RunContext) -> Transformed:
    started = time.monotonic()
    if (done := _committed_if_no_files(entity, ctx, "raw")) is not None:
        return Transformed(rows_out=done["extracted"] - done["filtered"], filtered=done["filtered"], seconds=0.0)
    counter = {"filtered": 0, "rows_out": 0}
    runfiles.write_parts(_folder(entity, ctx, "mapped"), _mapped_parts(entity, ctx, counter))
    seconds = time.monotonic() - started
    log.info("%s.%s transform: %d rows out, %d filtered, %.2fs", entity.system, entity.entity,
             counter["rows_out"], counter["filtered"], seconds)
    return Transformed(rows_out=counter["rows_out"], filtered=counter["filtered"], seconds=round(seconds, 3))


@audited
def validate(entity: Entity, ctx: RunContext, extracted: Extracted) -> Validated:
    from etl.quality.suites import load_suite, suite_path

    started = time.monotonic()
    if (done := _committed_if_no_files(entity, ctx, "mapped")) is not None:
        return Validated(valid=done["inserted"] + done["updated"] + done["unchanged"], quarantined=done["quarantined"],
                         dq_seconds=0.0, seconds=0.0, watermark_to=done["watermark_to"])
    mapped_folder = _folder(entity, ctx, "mapped")
    # no rows, nothing to check: the suite (and Great Expectations, seconds to import) is not loaded
    suite = load_suite(suite_path(entity.quality.suite or entity.target)) \
        if runfiles.part_paths(mapped_folder) else {"name": "(no rows)"}
    raw_folder = _folder(entity, ctx, "raw")
    valid_out = runfiles.PartWriter(_folder(entity, ctx, "valid"))
    q_out = runfiles.PartWriter(_folder(entity, ctx, "quarantine"))
    failures: list[str] = []
    dq_seconds = 0.0
    clock = audit.now_utc()  # the run's clock: a cursor beyond it (plus the skew) is not believed
    vouched: str | None = None
    for path, mapped in runfiles.read_parts(mapped_folder):
        part = quarantine.split(entity, suite, mapped, runfiles.read_part(raw_folder / path.name), clock)
        valid_out.write(part.valid)
        for refused in part.refused:
            q_out.write(refused)
        failures.extend(part.table_failures)
        dq_seconds += part.seconds
        vouched = cursor.later(vouched, part.watermark, entity)
    quarantine.check_table(entity, extracted.extracted, valid_out.rows, q_out.rows, failures)
    seconds = time.monotonic() - started
    log.info("%s.%s validate: %d valid, %d quarantined, suite %s, %.2fs", entity.system, entity.entity,
             valid_out.rows, q_out.rows, suite.get("name"), seconds)
    return Validated(valid=valid_out.rows, quarantined=q_out.rows, dq_seconds=round(dq_seconds, 3),
                     seconds=round(seconds, 3), watermark_to=vouched)


@audited
def load(entity: Entity, ctx: RunContext, extracted: Extracted, transformed: Transformed,
         validated: Validated) -> Loaded:
    """Merge valid rows, store quarantine, advance the watermark and close the audit row: one transaction."""
    started = time.monotonic()
    valid_folder, q_folder = _folder(entity, ctx, "valid"), _folder(entity, ctx, "quarantine")
    watermark = vouched_watermark(entity, extracted, validated)
    if (done := audit.committed(ctx.run_id, entity.pipeline, entity.entity, ctx.warehouse_url)) is not None:
        return _already_loaded(entity, ctx, done, validated)
    with transaction(ctx.warehouse_url) as conn:
        audit.ensure_control_tables(conn)
        if ensure_target(conn, entity) and entity.extras == "keep":
            from etl.load.extras import backfill  # a newly mapped custom field: fill old rows from extras

            backfill(conn, entity)
        staged = stage_batches(conn, entity, (t for _, t in runfiles.read_parts(valid_folder)))
        merged = merge_stage(conn, entity, staged, ctx.run_id, audit.now_utc())
        quarantined = quarantine.store(conn, entity, ctx.run_id,
                                       (t for _, t in runfiles.read_parts(q_folder)), audit.now_utc())
        totals = {"extracted": extracted.extracted, "filtered": transformed.filtered, "quarantined": quarantined,
                  "inserted": merged.inserted, "updated": merged.updated, "unchanged": merged.unchanged}
        check_invariant(entity, totals)
        ledger.record_files(conn, entity, ctx.run_id)
        state.write_watermark(conn, entity.pipeline, entity.entity, watermark, ctx.run_id)
        seconds = round(time.monotonic() - started + extracted.seconds + transformed.seconds
                        + validated.seconds, 3)
        audit.finish_run(conn, ctx.run_id, entity.pipeline, entity.entity, totals,
                         {"watermark_to": watermark, "pages": extracted.pages, "seconds": seconds})
    ledger.release_files(entity, ctx.run_id, ctx.warehouse_url)
    runfiles.remove(entity.pipeline, ctx.run_id, entity.entity)
    log.info("%s.%s load: %s, watermark %s, %.2fs", entity.system, entity.entity,
             ", ".join(f"{k} {v}" for k, v in totals.items()), watermark, time.monotonic() - started)
    return Loaded(**totals, watermark_to=watermark, target=entity.target, dq_seconds=validated.dq_seconds,
                  seconds=seconds)


def _committed_if_no_files(entity: Entity, ctx: RunContext, stage: str) -> dict | None:
    """A step whose input files are gone may be the retry of a run whose load committed (the load
    removes them): then the audit row is the result. Only looked up when the files are missing (a local
    folder that exists but holds no part is a step that found no rows: nothing to look up)."""
    folder = _folder(entity, ctx, stage)
    if runfiles.part_paths(folder) or (staging.is_local(folder) and folder.is_dir()):
        return None
    return audit.committed(ctx.run_id, entity.pipeline, entity.entity, ctx.warehouse_url)


def _already_loaded(entity: Entity, ctx: RunContext, done: dict, validated: Validated) -> Loaded:
    """A retried load of a committed run: report the commit as the audit row holds it, write nothing."""
    from etl.sources.files import manifest_path

    if entity.source.kind != "files" or manifest_path(entity, ctx.run_id).exists():  # gone if it finished
        ledger.release_files(entity, ctx.run_id, ctx.warehouse_url)
    runfiles.remove(entity.pipeline, ctx.run_id, entity.entity)
    log.info("%s.%s load: run %s already committed (%s); nothing written again", entity.system, entity.entity,
             ctx.run_id, ", ".join(f"{k} {done[k]}" for k in audit.COUNTS))
    return Loaded(**{k: int(done[k]) for k in audit.COUNTS}, watermark_to=done["watermark_to"],
                  target=entity.target, dq_seconds=validated.dq_seconds, seconds=float(done["seconds"] or 0.0))


def vouched_watermark(entity: Entity, extracted: Extracted, validated: Validated) -> str | None:
    """Where the next run starts: the previous watermark, moved to the largest cursor among the rows
    this load writes (quarantined and filtered rows, and cursors in the future, never move it). A
    source without a cursor field keeps what its extract reported (None, or its own state)."""
    if cursor.cursor_field(entity) is None or getattr(entity.source, "window", None):
        return extracted.watermark_to  # a windowed read keeps no watermark (it reads its data interval)
    return cursor.later(extracted.watermark_from, validated.watermark_to, entity)


def check_invariant(entity: Entity, totals: dict[str, int]) -> None:
    accounted = sum(totals[k] for k in ("filtered", "quarantined", "inserted", "updated", "unchanged"))
    if accounted != totals["extracted"]:
        raise InvariantError(
            f"{entity.system}.{entity.entity}: extracted {totals['extracted']} rows but accounted for "
            f"{accounted} ({totals}); nothing was committed"
        )


def run_entity(entity: Entity, ctx: RunContext) -> Loaded:
    """All four steps in-process, in order (the Airflow task, tests, the benchmark and the CLI call this).

    Resumable: each finished step leaves its typed result beside its parts in the run's staging area,
    so calling it again for the same run (an Airflow retry, or a clear) goes on after the last step that
    finished instead of extracting again. A result left under another version of the entity's config
    (the mapping was fixed in between) is ignored and the run starts over. A run whose load already
    committed returns the committed counts from `etl_runs` and writes nothing.
    """
    started = time.monotonic()
    done = audit.committed(ctx.run_id, entity.pipeline, entity.entity, ctx.warehouse_url)
    if done is not None:  # killed after the commit, before reporting success: finish the clean-up only
        return _already_loaded(entity, ctx, done, Validated(valid=0, quarantined=0, dq_seconds=0.0, seconds=0.0))
    folder, version = runfiles.entity_dir(entity.pipeline, ctx.run_id, entity.entity), _config_version(entity)
    ex = _resumed(folder, "extract", Extracted, version) or _finished(folder, "extract", version,
                                                                    extract(entity, ctx))
    tr = _resumed(folder, "transform", Transformed, version) or _finished(folder, "transform", version,
                                                                        transform(entity, ctx))
    va = _resumed(folder, "validate", Validated, version) or _finished(folder, "validate", version,
                                                                     validate(entity, ctx, ex))
    result = load(entity, ctx, ex, tr, va)
    return result.replace(seconds=round(time.monotonic() - started, 3))


def _config_version(entity: Entity) -> str:
    return hashlib.sha256(entity.model_dump_json().encode()).hexdigest()[:16]


_R = TypeVar("_R", Extracted, Transformed, Validated)


def _finished(folder, step: str, version: str, result: _R) -> _R:
    runfiles.write_result(folder, step, {"config_version": version, **result.as_dict()})
    return result


def _resumed(folder, step: str, kind: type[_R], version: str) -> _R | None:
    """The result a previous try of this run left for `step`, if it was made with this config."""
    saved = runfiles.read_result(folder, step)
    if not saved or saved.pop("config_version", None) != version:
        return None
    try:
        result = kind(**saved)
    except TypeError:  # written by another version of the code: redo the step
        return None
    log.info("resuming after %s (finished by an earlier try of this run): %s", step, saved)
    return result
