"""Turn a raw batch (all text, as received) into the typed rows of one warehouse table.

The steps follow the mapping vocabulary in order: pick the source field, normalise, look up, cast,
default, derive, filter, and keep unmapped fields as JSON `extras` so a new CRM custom field is never
silently lost. Everything is vectorised over the batch with Arrow compute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl.columns import ERRORS, EXTRAS, ROW_HASH, SRC_ROW
from etl.config.schema import Column, Entity
from etl.transform.cast import arrow_type, cast_column, describe_failure
from etl.transform.conversions import RateTables, apply_conversions
from etl.transform.filters import keep_mask
from etl.transform.normalise import apply_normalisers, phone_e164, strip_nul
from etl.transform.registry import derive_column

__all__ = ["ERRORS", "EXTRAS", "ROW_HASH", "SRC_ROW", "MapResult", "map_batch", "row_hash"]


@dataclass
class MapResult:
    table: pa.Table
    filtered: int


def source_of(name: str, col: Column) -> str:
    return col.source or name


def _raw(raw: pa.Table, path: str) -> pa.Array:
    if path in raw.column_names:
        return raw[path].combine_chunks()
    return pa.nulls(raw.num_rows, pa.string())


def _prepare(raw: pa.Table, name: str, col: Column, entity: Entity) -> pa.Array:
    arr = apply_normalisers(_raw(raw, source_of(name, col)), col.normalise)
    if "phone_e164" in col.normalise:
        region_col = entity.columns.get(col.phone_region_from or "")
        regions = _raw(raw, source_of(col.phone_region_from or "", region_col)) if region_col else None
        arr = phone_e164(arr, regions, col.phone_default_region)
    if col.lookup:
        keys = list(col.lookup.values)
        probe = pc.utf8_lower(arr) if col.lookup.case_insensitive else arr
        index = pc.index_in(probe, pa.array([k.lower() if col.lookup.case_insensitive else k for k in keys]))
        mapped = pc.take(pa.array([str(col.lookup.values[k]) for k in keys], pa.string()), index)
        fallback = None if col.lookup.default is None else str(col.lookup.default)
        arr = pc.if_else(pc.is_null(arr), arr, pc.coalesce(mapped, pa.scalar(fallback, pa.string())))
    return arr


def _reason(name: str, col: Column, arr: pa.Array, bad: pa.Array) -> pa.Array:
    """`cast(name): 'value' — why`; the value of a personal field (pii other than keep) is never quoted,
    only its length, so a reason can be read by whoever reads the quarantine."""
    if col.pii != "keep":
        shown = pc.binary_join_element_wise("<", pc.cast(pc.utf8_length(arr), pa.string()),
                                            " characters, personal data not shown>", "")
    else:
        shown = pc.binary_join_element_wise("'", _clip(arr), "'", "")
    text = pc.binary_join_element_wise(f"cast({name}): ", shown, f" — {describe_failure(name, col)}", "")
    return pc.if_else(bad, text, pa.scalar(None, pa.string()))


def _clip(arr: pa.Array, width: int = 80) -> pa.Array:
    long = pc.fill_null(pc.greater(pc.utf8_length(arr), width), False)
    return pc.if_else(long, pc.binary_join_element_wise(pc.utf8_slice_codeunits(arr, 0, width), "…", ""), arr)


def _extras(raw: pa.Table, used: set[str], n: int) -> pa.Array:
    """The unmapped fields of each row as a JSON object of its non-null values (null if none).

    Raw text columns are spliced into `{"key":"value",...}` with Arrow string kernels; only rows holding
    a value JSON must escape (quote, backslash, control character) are serialised by orjson, so the
    text is byte for byte what orjson.dumps of the row's dict gives.
    """
    names = [c for c in raw.column_names if c not in used]
    if not names:
        return pa.nulls(n, pa.string())
    if any(not pa.types.is_string(raw.schema.field(c).type) for c in names):
        return _extras_rows(raw, names, range(n))
    pieces, escape = [], pa.array(np.zeros(n, dtype=bool))
    for name in names:
        column = raw[name].combine_chunks()
        member = pc.binary_join_element_wise(',' + orjson.dumps(name).decode() + ':"', column, '"', "")
        pieces.append(pc.fill_null(member, ""))  # (the null-skipping join drops all-null rows: not it)
        escape = pc.or_(escape, pc.fill_null(pc.match_substring_regex(column, _JSON_ESCAPED), False))
    members = pc.binary_join_element_wise(*pieces, "")  # ',"a":"x","b":"y"'
    text = pc.if_else(pc.equal(members, ""), pa.scalar(None, pa.string()),
                      pc.binary_join_element_wise("{", pc.utf8_slice_codeunits(members, 1), "}", ""))
    if pc.any(escape).as_py():
        rows = np.flatnonzero(escape.to_numpy(zero_copy_only=False))
        text = pc.replace_with_mask(text, escape, _extras_rows(raw, names, rows.tolist()))
    return text


_JSON_ESCAPED = r'["\\\x00-\x1f]'  # what orjson writes as an escape sequence: quote, backslash, C0


def _extras_rows(raw: pa.Table, names: list[str], rows) -> pa.Array:
    """The same JSON, one row at a time with orjson (`rows`: positions to serialise)."""
    picked = raw.select(names).take(pa.array(list(rows), pa.int64()))
    cols = [picked[c].to_pylist() for c in names]
    out = []
    for values in zip(*cols, strict=True):
        row = {k: v for k, v in zip(names, values, strict=True) if v is not None}
        out.append(orjson.dumps(row).decode() if row else None)
    return pa.array(out, pa.string())


def _join_reasons(reasons: list[pa.Array], n: int) -> pa.Array:
    """One text per row listing every failed cast (pyarrow's null-skipping join drops rows, so not it)."""
    if not reasons:
        return pa.nulls(n, pa.string())
    columns = [r.to_pylist() for r in reasons]
    return pa.array([("; ".join(p for p in parts if p) or None) for parts in zip(*columns, strict=True)], pa.string())


def row_hash(table: pa.Table) -> pa.Array:
    """A stable 64-bit content hash per row (pandas' documented, version-stable hashing).

    Hashed as text: pandas hashes an integer column holding a null differently from one without, so a
    row's hash would depend on the other rows of its batch and a re-read would count as an update."""
    text = pa.table({name: pc.cast(table[name], pa.string()) for name in table.column_names})
    frame = text.to_pandas(types_mapper=pd.ArrowDtype)
    return pa.array(pd.util.hash_pandas_object(frame, index=False).to_numpy().view("int64"))


def _derived_from(entity: Entity, converted: set[str]) -> list[str]:
    """Derived columns that read a conversion's output: computed after the conversions, in file order."""
    late: list[str] = []
    for name, col in entity.columns.items():
        if col.derive and set(col.derive.args) & (converted | set(late)):
            late.append(name)
    return late


def _nested(raw: pa.Table, path: str, entity: Entity) -> list[str]:
    """Raw columns under `path` (`email.address`): the record held an object where the mapping reads one
    value. Empty when the mapping itself reads fields under `path` (then an object is what it expects)."""
    inner = [c for c in raw.column_names if c.startswith(path + ".")]
    if inner and any(source_of(k, c).startswith(path + ".") for k, c in entity.columns.items() if not c.derive):
        return []
    return inner


def _object_instead(raw: pa.Table, name: str, col: Column, inner: list[str]) -> tuple[pa.Array, pa.Array]:
    """Rows whose field is an object, not a value: refused (rule cast), never loaded as null with the
    object's fields (maybe personal data) left in `extras`. The reason names the field, not the content."""
    present = pc.is_valid(raw[inner[0]].combine_chunks())
    for c in inner[1:]:
        present = pc.or_(present, pc.is_valid(raw[c].combine_chunks()))
    bad = pc.and_(present, pc.is_null(_raw(raw, source_of(name, col))))
    text = f"cast({name}): an object (fields {', '.join(c.split('.', 1)[1] for c in inner[:5])}) where " \
           f"one {col.type} value was expected"
    return bad, pc.if_else(bad, text, pa.scalar(None, pa.string()))


def _key(typed: pa.Array, col: Column) -> pa.Array:
    """A text key without surrounding spaces (CHAR(n) padding, a pasted id: ` 3 ` is record `3`, as an
    integer key's cast already reads it); a blank key is no key (null, so the row is quarantined)."""
    if col.type not in ("string", "json"):
        return typed
    trimmed = pc.utf8_trim_whitespace(typed)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def map_batch(raw: pa.Table, entity: Entity, rates: RateTables | None = None) -> MapResult:
    """`rates`: the rate tables of the entity's currency conversions (read by `etl.load.rates`)."""
    raw = strip_nul(raw)
    n = raw.num_rows
    columns: dict[str, pa.Array] = {}
    reasons: list[pa.Array] = []
    converted = entity.converted_columns
    unknown: dict[str, pa.Array] = {}  # per column: rows whose value failed its cast (a filter cannot judge them)
    nested: set[str] = set()
    for name, col in entity.columns.items():
        if col.derive or name in converted:
            continue
        arr = _prepare(raw, name, col, entity)
        typed, bad = cast_column(arr, col)
        if pc.any(bad).as_py():
            reasons.append(_reason(name, col, arr, bad))
            unknown[name] = bad
        if inner := _nested(raw, source_of(name, col), entity):
            nested.update(inner)
            shaped, why = _object_instead(raw, name, col, inner)
            if pc.any(shaped).as_py():
                reasons.append(why)
                unknown[name] = pc.or_(unknown[name], shaped) if name in unknown else shaped
        if name in entity.primary_key:
            typed = _key(typed, col)
        if col.default is not None:
            typed = pc.coalesce(typed, pa.scalar(col.default).cast(typed.type))
        columns[name] = typed
    late = _derived_from(entity, converted)
    for name, col in entity.columns.items():
        if col.derive and name not in late:
            columns[name] = pc.cast(derive_column(pa.table(columns), col.derive), arrow_type(col.type))
    if entity.conversions:
        outputs, failed = apply_conversions(columns, entity, rates)
        columns.update(outputs)
        reasons.extend(failed)
    for name in late:  # e.g. integer minor units of a converted amount (outbound to an ERP)
        derive = entity.columns[name].derive
        assert derive is not None
        columns[name] = pc.cast(derive_column(pa.table(columns), derive), arrow_type(entity.columns[name].type))
    table = pa.table({name: columns[name] for name in entity.columns})
    if entity.extras == "keep":
        used = {source_of(k, c) for k, c in entity.columns.items() if not c.derive} | nested
        table = table.append_column(EXTRAS, _extras(raw, used, n))
    errors = _join_reasons(reasons, n)
    table = table.append_column(ROW_HASH, row_hash(table))
    table = table.append_column(ERRORS, errors).append_column(SRC_ROW, pa.array(range(n), pa.int64()))
    mask = keep_mask(table, entity.filters, unknown)
    kept = table.filter(mask) if mask is not None else table
    return MapResult(table=kept, filtered=n - kept.num_rows)
