"""What a run can vouch for: the incremental cursor values of the rows it actually loads.

The next run reads only records whose cursor is past the watermark, so a watermark set too far is data
lost for good: every later change sits below it and is never read again. Three rules keep it honest:

* the watermark is the largest *believable* cursor the run read: loaded, filtered and quarantined
  records move it (a quarantined record waits in `etl_quarantine` for a replay, reading it again every
  run would only quarantine it again), a record whose cursor is not believable does not;
* a cursor later than the run's own clock plus `incremental.clock_skew_s` (default 300 s; a source's
  clock may run a little ahead of ours) is not a real change time: the record is quarantined under
  rule `cursor_future`, with the value and the bound in the reason, and moves nothing;
* when two versions of one key arrive in one run, the one with the greater cursor is loaded, whatever
  their order of arrival (`rank` gives the merge a sortable number per row).

Cursor values are compared as the watermark codec (`etl.state`) reads them: numbers, or ISO timestamps
(naive ones are UTC). A SQL source's integer cursor is a key, not a time: it is never "in the future".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from etl.columns import CURSOR_RANK
from etl.config.schema import Entity
from etl.state import EPOCH, parse_moment

RANK = CURSOR_RANK  # per valid row: its cursor as a number, for the merge's "newest version wins"
RULE = "cursor_future"
DEFAULT_SKEW_S = 300


def cursor_field(entity: Entity) -> str | None:
    """The raw field holding the incremental cursor (REST and SQL `incremental`, a plug-in's setting)."""
    inc = getattr(entity.source, "incremental", None)
    if inc is not None:
        return inc.cursor_field
    settings = getattr(entity.source, "settings", None)  # a plug-in source's own settings
    return getattr(settings, "cursor_field", None) if settings is not None else None


def clock_skew_s(entity: Entity) -> int:
    inc = getattr(entity.source, "incremental", None)
    if inc is not None:
        return inc.clock_skew_s
    settings = getattr(entity.source, "settings", None)
    return int(getattr(settings, "clock_skew_s", DEFAULT_SKEW_S)) if settings is not None else DEFAULT_SKEW_S


def _python_rank(text: str | None, keys: bool) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        return number if keys or abs(number) < 1e11 else number / 1000.0
    try:
        return (parse_moment(text) - EPOCH).total_seconds()
    except (ValueError, OverflowError):
        return None


def rank(values: pa.Array, entity: Entity) -> tuple[pa.Array, pa.Array]:
    """(sortable float per value: epoch seconds for times, the number for keys; is-a-time mask).

    Vectorised for the usual columns (all numbers, all zoned ISO, all naive ISO); others value by value."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    keys = entity.source.kind == "sql"  # a SQL number cursor is a key (id), not an epoch
    n = len(values)
    try:
        number = pc.cast(values, pa.float64())
        if keys:
            return number, pa.array([False] * n)
        ms = pc.fill_null(pc.greater_equal(pc.abs(number), 1e11), False)
        return pc.if_else(ms, pc.divide(number, 1000.0), number), pc.is_valid(number)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    for target in (pa.timestamp("us", tz="UTC"), pa.timestamp("us")):
        try:
            micros = pc.cast(pc.cast(values, target), pa.int64())
            return pc.divide(pc.cast(micros, pa.float64()), 1e6), pc.is_valid(micros)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    texts = values.to_pylist()
    ranks = [_python_rank(t, keys) for t in texts]
    times = [r is not None and not (keys and _is_number(t)) for t, r in zip(texts, ranks, strict=True)]
    return pa.array(ranks, pa.float64()), pa.array(times, pa.bool_())


def _is_number(text: Any) -> bool:
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


def future_reasons(values: pa.Array, entity: Entity, now: dt.datetime) -> pa.Array:
    """Per row: why its cursor is beyond the run's clock plus the declared skew, or null if it is not."""
    ranks, is_time = rank(values, entity)
    skew = clock_skew_s(entity)
    bound = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now
    limit = (bound - EPOCH).total_seconds() + skew
    future = pc.fill_null(pc.and_(is_time, pc.greater(ranks, limit)), False)
    if not pc.any(future).as_py():
        return pa.nulls(len(values), pa.string())
    field = cursor_field(entity)
    shown = f"{bound.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} + clock_skew_s {skew}"
    text = pc.binary_join_element_wise(f"cursor {field} ", pc.cast(values, pa.string()),
                                       f" is later than the run's clock {shown}: not a real change time; "
                                       "not loaded and the watermark does not move past it", "")
    return pc.if_else(future, text, pa.scalar(None, pa.string()))


def newest(values: pa.Array, entity: Entity) -> str | None:
    """The cursor text with the largest rank (the watermark these rows vouch for), or None."""
    ranks, _ = rank(values, entity)
    if pc.all(pc.is_null(ranks)).as_py() is not False:
        return None
    at = pc.index(ranks, pc.max(ranks)).as_py()
    found: str | None = values[at].as_py()
    return found


def later(a: str | None, b: str | None, entity: Entity) -> str | None:
    """The later of two watermarks (None counts as nothing)."""
    if a is None or b is None:
        return a if b is None else b
    ra, rb = (_python_rank(t, entity.source.kind == "sql") for t in (a, b))
    if ra is None or rb is None:
        return a if rb is None else b
    return b if rb > ra else a
