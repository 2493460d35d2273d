"""Quarantine: every decision that a row is refused, and where refused rows are stored.

A row is refused for one of these rules, decided here in this order:

* `cast` / `conversion`: the transform could not type or convert a value (its reason sits in the
  mapping's `_errors` column, e.g. "cast(close_date): '31/02/2026' ...");
* `primary_key_not_null`: a key column is empty or blank, so the row could never be merged (built in);
* `cursor_future`: its incremental cursor is later than the run's clock plus the declared skew
  (`etl.quality.cursor`), so it cannot be a real change and must not move the watermark;
* an expectation of the table's GX suite (`etl.quality.validate`), with the failing expectation as rule;
* a plug-in row check named under `quality.checks` (rule `plugin:<name>`).

Refused rows keep their *original* record (the raw batch row, as received) so the source can be fixed
and the row replayed, except that personal fields (a pii policy other than keep, and anything nested
under one) are sealed (`etl.transform.pii.seal_record`): nobody reads an e-mail in etl_quarantine, and
replay unseals it with the key from the environment. Reasons never quote a personal value.
Table-level checks (`check_table`) fail the whole load when too much is refused. `store` writes the
rows to `etl_quarantine` inside the load's transaction, next to the data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from etl.columns import ERRORS, INTERNAL, SRC_ROW
from etl.config.schema import Entity

QUARANTINE_TABLE = "etl_quarantine"


class DataQualityError(RuntimeError):
    """A table-level check failed: the batch as a whole is not fit to load."""


@dataclass
class Split:
    """One mapped batch, divided: rows to load, rows refused (with rule and reason), validation time."""

    valid: pa.Table
    refused: list[pa.Table]
    table_failures: list[str]
    seconds: float
    watermark: str | None = None  # the largest believable cursor of the batch (what the run vouches for)


def key_text(table: pa.Table, keys: list[str]) -> pa.Array:
    """A key's one text form (composite keys joined with `|`), as `etl_quarantine.primary_key` holds it."""
    parts = [pc.cast(table[k], pa.string()) for k in keys]
    return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "|", null_handling="replace")


def refused_rows(bad: pa.Table, raw: pa.Table, entity: Entity, rule: pa.Array, reason: pa.Array) -> pa.Table:
    """Quarantine rows for `bad` (mapped rows): key, rule, reason and the original raw record as JSON,
    its personal fields sealed (a personal key column is stored hashed, as the table stores it)."""
    from etl.transform.normalise import strip_nul
    from etl.transform.pii import hash_values, personal_sources, seal_record

    sources = personal_sources(entity)
    records = strip_nul(raw.take(bad[SRC_ROW])).to_pylist()
    text = [orjson.dumps(seal_record({k: v for k, v in r.items() if v is not None}, sources)).decode()
            for r in records]
    key = key_text(bad, entity.primary_key)
    if any(entity.columns[k].pii != "keep" for k in entity.primary_key):
        key = hash_values(key)
    return pa.table({"primary_key": key, "failed_rule": rule,
                     "reason": reason, "record": pa.array(text, pa.string())})


def _any_null(table: pa.Table, columns: list[str]) -> pa.Array:
    mask = pc.is_null(table[columns[0]])
    for name in columns[1:]:
        mask = pc.or_(mask, pc.is_null(table[name]))
    return mask


def _cursor_values(table: pa.Table, raw: pa.Table, field: str | None) -> pa.Array | None:
    if field is None or field not in raw.column_names:
        return None
    return raw[field].combine_chunks().take(table[SRC_ROW])


def split(entity: Entity, suite: dict, mapped: pa.Table, raw: pa.Table, now: dt.datetime | None = None) -> Split:
    """Divide one mapped batch into rows to load and refused rows; `raw` is the batch it was mapped from;
    `now`: the run's clock (naive UTC), the bound of a believable cursor."""
    from etl.quality import cursor
    from etl.quality.validate import validate_batch
    from etl.transform.pii import protect

    field = cursor.cursor_field(entity)
    values = _cursor_values(mapped, raw, field)
    future = (cursor.future_reasons(values, entity, now or dt.datetime.now(dt.UTC)) if values is not None
              else pa.nulls(mapped.num_rows, pa.string()))
    errors = pc.coalesce(mapped[ERRORS].combine_chunks(), future)
    key_null = _any_null(mapped, entity.primary_key)  # built in: such a row can never be merged
    pre_bad = pc.or_(pc.is_valid(errors), key_null)
    bad, bad_errors = mapped.filter(pre_bad), errors.filter(pre_bad)
    rule = pc.if_else(pc.is_null(bad_errors), "primary_key_not_null",
                      pc.if_else(pc.starts_with(bad_errors, "cast("), "cast",
                                 pc.if_else(pc.starts_with(bad_errors, "cursor "), cursor.RULE, "conversion")))
    reason = pc.coalesce(bad_errors, f"primary key ({', '.join(entity.primary_key)}) is missing")
    refused = [refused_rows(bad, raw, entity, rule, reason)] if bad.num_rows else []
    hidden = [n for n, c in entity.columns.items() if c.pii != "keep"]
    result = validate_batch(mapped.filter(pc.invert(pre_bad)), suite, entity.primary_key, hidden)
    q = result.quarantined
    if q.num_rows:
        refused.append(refused_rows(q, raw, entity, q["_failed_rule"], q["_reason"]))
    passed = result.valid
    for spec in entity.quality.checks:  # plug-in row checks (etl.plugins), after the suite
        passed = _plugin_check(spec, passed, raw, entity, refused)
    kept = _cursor_values(passed, raw, field)
    valid = protect(passed.drop_columns(list(INTERNAL)), entity)
    if kept is not None:
        valid = valid.append_column(cursor.RANK, cursor.rank(kept, entity)[0])
    return Split(valid, refused, list(result.table_failures), result.seconds, _vouched(raw, field, entity, now))


def _vouched(raw: pa.Table, field: str | None, entity: Entity, now: dt.datetime | None) -> str | None:
    """The largest believable cursor of the whole batch: every record read, loaded, quarantined or
    filtered, moves the watermark (a quarantined record waits in quarantine for replay, it is not read
    again: re-reading it would quarantine it again every run); only a cursor beyond the run's clock plus
    the skew (`cursor_future`) does not."""
    from etl.quality import cursor

    if field is None or field not in raw.column_names:
        return None
    values = raw[field].combine_chunks()
    future = cursor.future_reasons(values, entity, now or dt.datetime.now(dt.UTC))
    return cursor.newest(values.filter(pc.is_null(future)), entity)


def _plugin_check(spec, table: pa.Table, raw: pa.Table, entity: Entity, refused: list) -> pa.Table:
    """Rows the check returns False (or null) for are quarantined under the rule `plugin:<name>`."""
    from etl.plugin_registry import check

    ok = pc.fill_null(pa.array(check(spec.check)(table, **spec.kwargs), pa.bool_()), False)
    bad = table.filter(pc.invert(ok))
    if bad.num_rows:
        n = bad.num_rows
        reason = spec.description or f"failed the plug-in check {spec.check!r}"
        refused.append(refused_rows(bad, raw, entity, pa.array([f"plugin:{spec.check}"] * n),
                                    pa.array([reason] * n)))
    return table.filter(ok)


def check_table(entity: Entity, extracted: int, valid: int, quarantined: int, failures: list[str]) -> None:
    """Fail the load when the batch as a whole is unfit: a suite's table-level expectation failed, too
    large a share was refused, or the source returned rows and none passed."""
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


def _redacted_reasons(part: pa.Table) -> pa.Table:
    """Reasons may quote what a source or a check said; no credential is stored (etl.redact)."""
    from etl.redact import redact

    if "reason" not in part.column_names or not part.num_rows:
        return part
    reasons = part["reason"].combine_chunks()
    distinct = pc.unique(reasons)
    clean = pa.array([None if r is None else redact(r) for r in distinct.to_pylist()], pa.string())
    return part.set_column(part.column_names.index("reason"), "reason",
                           pc.take(clean, pc.index_in(reasons, distinct)))


def store(conn, entity: Entity, run_id: str, parts: Iterable[pa.Table], at, replace: bool = True) -> int:
    """Write this run's refused rows in the caller's transaction; `replace`: drop those an earlier attempt
    of the same run stored first (a retried load), off for a replay, which keeps history."""
    import sqlalchemy as sa

    from etl.load.merge import bulk_append

    if replace:
        conn.execute(sa.text(f"DELETE FROM {QUARANTINE_TABLE} WHERE run_id = :r AND pipeline = :p AND entity = :e"),
                     {"r": run_id, "p": entity.pipeline, "e": entity.entity})
    total = 0
    for part in parts:
        part = _redacted_reasons(part)
        n = part.num_rows
        meta = {"run_id": pa.array([run_id] * n), "pipeline": pa.array([entity.pipeline] * n),
                "entity": pa.array([entity.entity] * n)}
        rows = pa.table({**meta, **{c: part[c] for c in part.column_names},
                         "quarantined_at": pa.array([at] * n, pa.timestamp("us"))})
        bulk_append(conn, QUARANTINE_TABLE, rows, ["primary_key"])
        total += n
    return total
