"""JSON records → an all-string Arrow table: the raw layer, "as received".

Typing happens later, in `etl.transform`, where the mapping says what each field means. Here every
value keeps its JSON spelling so nothing is lost or guessed: strings stay as they are, numbers and
booleans become their JSON text (`12.5`, `true`), lists become JSON text, nested objects are
flattened into dotted column names (`properties.email`) and null stays null. The column set is the
union of keys over the batch, in order of first appearance. The second half reads incremental cursor
values back out of such tables: comparing them as timestamps or numbers (`etl.state`), never as text.

This is the hot path of every REST extract, so no Python code runs per cell: the values are pulled
out of the rows in one C-level pass (itemgetter + zip transpose), and each column is one `pa.array`
call that succeeds outright when the column holds only strings and nulls (the usual case). Convert a
few thousand records at a time: larger lists of dicts fall out of the CPU cache and get slower.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from etl.state import _number, parse_moment  # the one watermark codec

_EMPTY: dict[str, Any] = {}


def get_path(obj: Any, path: str) -> Any:
    """Value at a dotted path ("paging.next.after"); None when any step is missing. "" = obj."""
    if not path:
        return obj
    if isinstance(obj, dict) and path in obj:  # a key that itself holds dots: "@odata.nextLink"
        return obj[path]
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


class RecordsPathError(ValueError):
    """A document cannot hold records under `records_path`: the setting or the source is wrong."""


_ABSENT = object()


def _lookup(obj: Any, path: str) -> tuple[Any, Any]:
    """(value at `path` or _ABSENT, the last object walked through), telling a missing key from null."""
    if not path:
        return obj, obj
    if isinstance(obj, dict) and path in obj:
        return obj[path], obj
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return _ABSENT, obj
        parent, obj = obj, obj[part]
    return obj, parent


def records_at(body: Any, path: str) -> list[Any]:
    """The list of records in a document; a lone object counts as one record, null as none.

    A document that lacks the key (or is not an object where a key is expected) raises
    RecordsPathError naming `records_path` and the keys that are there: such a body counted as
    "no records" would lose its records for good (a renamed key, an API version change).
    """
    found, where = _lookup(body, path)
    shown = path or "<body>"
    if found is _ABSENT:
        if isinstance(where, dict):
            keys = ", ".join(map(repr, list(where)[:12])) or "none"
            raise RecordsPathError(f"no {shown!r} in the document (records_path); the keys there are: {keys}")
        raise RecordsPathError(f"records_path {shown!r} expects an object, the document holds "
                               f"{type(where).__name__} (records_path: \"\" reads a document that is the list)")
    if found is None:
        return []
    if isinstance(found, list):
        return found
    if isinstance(found, dict):
        if not found:
            raise RecordsPathError(f"{shown!r} holds an empty object, not a list of records (records_path)")
        return [found]
    raise RecordsPathError(f"expected a list of records at {shown!r} (records_path), got {type(found).__name__}")


def to_table(records: list[Any]) -> pa.Table:
    """Flatten JSON records (dicts) into a Table whose columns are all `pa.string()`."""
    rows = [r if type(r) is dict else {"value": r} for r in records]
    columns: dict[str, pa.Array] = {}
    _flatten_into(rows, "", columns)
    if rows and not columns:  # only `{}` records: keep one row each (a missing key is quarantined later)
        columns["value"] = pa.nulls(len(rows), pa.string())
    return pa.table(columns)


def _flatten_into(rows: Sequence[dict[str, Any]], prefix: str, out: dict[str, pa.Array]) -> None:
    """Add one column per key of `rows` to `out`, descending into nested objects."""
    for key, values in _columns(rows):
        name = prefix + key
        try:  # the common case, a column of strings and nulls, costs one C call
            out[name] = pa.array(values, type=pa.string())
            continue
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            pass
        if dict in set(map(type, values)):
            _flatten_nested(values, name, out)
        else:
            out[name] = _text_array(values)


def _columns(rows: Sequence[dict[str, Any]]) -> Iterator[tuple[str, Sequence[Any]]]:
    """(key, values) per key of `rows`, keys in first-appearance order, missing values None.

    When every row has the first row's keys (the usual API page), one pass over the rows with
    itemgetter and a zip transpose touches each dict once; walking all rows once per key was 1.7x
    slower because a batch of dicts does not fit in the CPU cache.
    """
    if not rows:
        return
    keys = list(rows[0])
    if len(keys) > 1 and set(map(len, rows)) == {len(keys)}:
        try:
            yield from zip(keys, zip(*map(itemgetter(*keys), rows), strict=True), strict=True)
            return
        except KeyError:  # same size, other keys: take the general path
            pass
    if len(set().union(*rows)) != len(keys):
        keys = list(dict.fromkeys(itertools.chain.from_iterable(rows)))
    for key in keys:
        yield key, list(map(dict.get, rows, itertools.repeat(key)))


def _flatten_nested(values: Sequence[Any], name: str, out: dict[str, pa.Array]) -> None:
    """A column holding objects: sub-keys become `name.sub`; stray scalars stay under `name`."""
    scalars = [None if type(v) is dict else v for v in values]
    if any(v is not None for v in scalars):
        out[name] = _text_array(scalars)
    _flatten_into([v if type(v) is dict else _EMPTY for v in values], name + ".", out)


def _text_array(values: Sequence[Any]) -> pa.Array:
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


# ------------------------------------------------------------------------- incremental cursor values


class CursorTracker:
    """The largest value of one cursor column over a run, kept in the text the source sent."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.text: str | None = None
        self._key: tuple[int, Any] | None = None

    def update(self, table: pa.Table) -> str | None:
        if self.column in table.column_names:
            text = max_text(table.column(self.column))
            if text is not None and (self._key is None or sort_key(text) > self._key):
                self.text, self._key = text, sort_key(text)
        return self.text


def max_text(column: pa.ChunkedArray) -> str | None:
    """The string whose value (as number or timestamp, not as text) is largest, or None if all are null
    or unreadable.

    Vectorised casts cover the usual columns (epoch numbers, zoned or naive ISO); a column mixing
    forms falls back to parsing each value in Python.
    """
    values = column.drop_null()
    if len(values) == 0:
        return None
    for target in (pa.float64(), pa.timestamp("ns", tz="UTC"), pa.timestamp("ns")):
        try:
            keys = pc.cast(values, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        text: str = values[pc.index(keys, pc.max(keys)).as_py()].as_py()
        return text
    readable = [(key, text) for text in values.to_pylist() if (key := try_sort_key(text)) is not None]
    return max(readable)[1] if readable else None  # an unreadable cursor is the quality step's to refuse


def try_sort_key(text: str) -> tuple[int, Any] | None:
    """`sort_key`, or None for a value that is neither a number nor a timestamp."""
    try:
        return sort_key(text)
    except (ValueError, OverflowError):
        return None


def sort_key(text: str) -> tuple[int, Any]:
    number = _number(text.strip())
    return (0, number) if number is not None else (1, parse_moment(text))
