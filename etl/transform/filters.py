"""Row filters from a mapping's `filters:` list: keep the rows for which every condition holds.

A row whose tested value is null fails the condition (it is filtered), except for `is_null` and
`ne`/`not_in` where null counts as "not equal". Filtered rows are counted, never silently dropped.

A value that failed its cast is not null, it is unknown: a filter on that column keeps the row, so it
reaches quarantine (rule `cast`) instead of being counted as filtered, which would hide a broken value
behind a business rule.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from etl.config.schema import Filter


def _scalar(value, typ: pa.DataType) -> pa.Scalar:
    return pa.scalar(value).cast(typ) if value is not None else pa.scalar(None, typ)


def condition(arr: pa.Array, f: Filter) -> pa.Array:
    typ = arr.type
    if f.op == "is_null":
        return pc.is_null(arr)
    if f.op == "not_null":
        return pc.is_valid(arr)
    if f.op in ("in", "not_in"):
        inside = pc.is_in(arr, value_set=pa.array(f.values).cast(typ))
        return inside if f.op == "in" else pc.invert(inside)
    if f.op == "between":
        low, high = (_scalar(v, typ) for v in f.values or [])
        return pc.and_(pc.greater_equal(arr, low), pc.less_equal(arr, high))
    compare = {"eq": pc.equal, "ne": pc.not_equal, "gt": pc.greater, "ge": pc.greater_equal,
               "lt": pc.less, "le": pc.less_equal}[f.op]
    result = compare(arr, _scalar(f.value, typ))
    return pc.fill_null(result, True) if f.op == "ne" else result


def keep_mask(table: pa.Table, filters: list[Filter], unknown: dict[str, pa.Array] | None = None) -> pa.Array | None:
    """`unknown`: per column, the rows whose value failed its cast; every filter on it keeps them."""
    if not filters:
        return None
    mask = None
    for f in filters:
        cond = pc.fill_null(condition(table[f.column].combine_chunks(), f), False)
        if unknown and f.column in unknown:
            cond = pc.or_(cond, unknown[f.column])
        mask = cond if mask is None else pc.and_(mask, cond)
    return mask
