"""JSON records → an all-string Arrow table: the raw layer, "as received".

Typing happens later, in `etl.transform`, where the mapping says what each field means. Here every
value keeps its JSON spelling so nothing is lost or guessed: strings stay as they are, numbers and
booleans become their JSON text (`12.5`, `true`), lists become JSON text, nested objects are
flattened into dotted column names (`properties.email`) and null stays null. The column set is the
union of keys over the batch, in order of first appearance.

This is the hot path of every REST extract, so the work is done column by column: one list
comprehension per key and one `pa.array` call per column, with a fast path for the common case of a
column holding only strings and nulls. Per-cell Python appends were several times slower.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pyarrow as pa

_EMPTY: dict[str, Any] = {}


def get_path(obj: Any, path: str) -> Any:
    """Value at a dotted path ("paging.next.after"); None when any step is missing. "" = obj."""
    if not path:
        return obj
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def records_at(body: Any, path: str) -> list[Any]:
    """The list of records in a response body; a lone object counts as one record."""
    found = get_path(body, path)
    if found is None:
        return []
    if isinstance(found, list):
        return found
    if isinstance(found, dict):
        return [found]
    raise ValueError(f"expected a list of records at {path or '<body>'!r}, got {type(found).__name__}")


def to_table(records: list[Any]) -> pa.Table:
    """Flatten JSON records (dicts) into a Table whose columns are all `pa.string()`."""
    rows = [r if type(r) is dict else {"value": r} for r in records]
    columns: dict[str, pa.Array] = {}
    _flatten_into(rows, "", columns)
    return pa.table(columns)  # records without any key (`{}`) yield no columns and hence no rows


def _flatten_into(rows: list[dict[str, Any]], prefix: str, out: dict[str, pa.Array]) -> None:
    """Add one column per key of `rows` to `out`, descending into nested objects."""
    for key in _union_of_keys(rows):
        name = prefix + key
        values = list(map(dict.get, rows, itertools.repeat(key)))  # ~2x a comprehension
        try:  # the common case, a column of strings and nulls, costs one C call
            out[name] = pa.array(values, type=pa.string())
            continue
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            pass
        if any(type(v) is dict for v in values):
            _flatten_nested(values, name, out)
        else:
            out[name] = _text_array(values)


def _union_of_keys(rows: list[dict[str, Any]]) -> list[str]:
    """Keys of all rows in first-appearance order; fast when every row has the first row's keys."""
    if not rows:
        return []
    union = set().union(*rows)
    if len(union) == len(rows[0]):
        return list(rows[0])
    return list(dict.fromkeys(itertools.chain.from_iterable(rows)))


def _flatten_nested(values: list[Any], name: str, out: dict[str, pa.Array]) -> None:
    """A column holding objects: sub-keys become `name.sub`; stray scalars stay under `name`."""
    scalars = [None if type(v) is dict else v for v in values]
    if any(v is not None for v in scalars):
        out[name] = _text_array(scalars)
    _flatten_into([v if type(v) is dict else _EMPTY for v in values], name + ".", out)


def _text_array(values: list[Any]) -> pa.Array:
    return pa.array([v if type(v) is str or v is None else json_text(v) for v in values], type=pa.string())


def json_text(value: Any) -> str:
    """The JSON spelling of a non-string value: `true`, `12.5`, `[1, 2]` → `[1,2]`."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)  # exact for integers beyond 64 bits, which orjson refuses
    return orjson.dumps(value).decode()
