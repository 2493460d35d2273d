"""Cast raw string columns to the types a mapping declares, vectorised, reporting what failed.

Every raw value is text (the extract layer keeps data as received). A value that is present but cannot
be read as the declared type becomes null in the typed column and yields a reason, so the row goes to
quarantine instead of being loaded with a guess.
"""

from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl.config.schema import Column

INT_RE = r"^\s*[-+]?\d+\s*$"
FLOAT_RE = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
DECIMAL_RE = r"^\s*[-+]?(\d+\.?\d*|\.\d+)\s*$"
AWARE_RE = r"(?:Z|[+-]\d{2}:?\d{2})$"  # an ISO timestamp with a zone: an instant
DECIMAL_TYPE = re.compile(r"decimal\((\d+),\s*(\d+)\)")


def arrow_type(type_name: str) -> pa.DataType:
    if m := DECIMAL_TYPE.fullmatch(type_name):
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    return {
        "string": pa.string(),
        "json": pa.string(),
        "integer": pa.int64(),
        "bigint": pa.int64(),
        "float": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
    }[type_name]


def _valid(arr: pa.Array, ok: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Split into (values with the invalid ones nulled, mask of present-but-invalid)."""
    bad = pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(ok, False)))
    return pc.if_else(bad, pa.scalar(None, arr.type), arr), bad


def _numeric(arr: pa.Array, pattern: str, target: pa.DataType) -> tuple[pa.Array, pa.Array]:
    clean, bad = _valid(arr, pc.match_substring_regex(arr, pattern))
    return pc.cast(pc.utf8_trim_whitespace(clean), target), bad


def _decimal(arr: pa.Array, target: pa.Decimal128Type) -> tuple[pa.Array, pa.Array]:
    clean, bad = _valid(arr, pc.match_substring_regex(arr, DECIMAL_RE))
    wide = pc.cast(pc.utf8_trim_whitespace(clean), pa.decimal128(38, 12))
    rounded = pc.round(wide, ndigits=target.scale, round_mode="half_towards_infinity")
    too_big = pc.greater_equal(pc.abs(pc.cast(rounded, pa.float64())), 10.0 ** (target.precision - target.scale))
    rounded, overflow = _valid(rounded, pc.invert(too_big))
    return pc.cast(rounded, target), pc.or_(bad, overflow)


def _boolean(arr: pa.Array, col: Column) -> tuple[pa.Array, pa.Array]:
    key = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
    is_true = pc.is_in(key, pa.array([v.lower() for v in col.true_values]))
    is_false = pc.is_in(key, pa.array([v.lower() for v in col.false_values]))
    clean, bad = _valid(arr, pc.or_(is_true, is_false))
    return pc.if_else(pc.is_null(clean), pa.scalar(None, pa.bool_()), is_true), bad


def _parse_iso(arr: pa.Array, tz: str) -> pa.Array:
    """ISO 8601 text; values with Z or an offset are instants, naive ones are local to `tz`."""
    text = pd.Series(arr.to_pandas(), dtype=object)
    aware = _aware(arr, text)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    if aware.any():
        parsed = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
        out[aware] = parsed.dt.tz_localize(None).astype("datetime64[us]")
    naive = ~aware & text.notna()
    if naive.any():
        parsed = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        if tz != "UTC":
            parsed = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
            parsed = parsed.dt.tz_localize(None)
        out[naive] = parsed.astype("datetime64[us]")
    return pa.array(out, pa.timestamp("us"), from_pandas=True)


def _aware(arr: pa.Array, text: pd.Series) -> pd.Series:
    """Which values end in Z or a UTC offset. Arrow's regex (RE2) is vectorised; it agrees with Python's
    `re` when the text is ASCII (RE2's \\d is ASCII-only) and no value ends in a newline (Python's `$`
    also matches before one); other text takes the per-value Python path."""
    ascii_only = pc.all(pc.string_is_ascii(arr)).as_py() is not False
    if ascii_only and not pc.any(pc.ends_with(arr, "\n")).as_py():
        found = pc.fill_null(pc.match_substring_regex(arr, AWARE_RE), False)
        return pd.Series(found.to_numpy(zero_copy_only=False), index=text.index)
    return text.str.contains(AWARE_RE, regex=True, na=False)


def _parse_one(arr: pa.Array, fmt: str, tz: str) -> pa.Array:
    """Parse with one format into naive UTC microseconds (null where the format does not fit)."""
    if fmt == "iso":
        return _parse_iso(arr, tz)
    if fmt in ("epoch_ms", "epoch_s"):
        clean, _ = _valid(arr, pc.match_substring_regex(arr, INT_RE))
        unit = "ms" if fmt == "epoch_ms" else "s"
        return pc.cast(pc.cast(pc.cast(clean, pa.int64()), pa.timestamp(unit)), pa.timestamp("us"))
    has_zone = "%z" in fmt
    parsed = pc.strptime(arr, format=fmt, unit="us", error_is_null=True)
    if has_zone:
        return pc.cast(parsed, pa.timestamp("us"))  # strptime with %z yields UTC instants
    if tz != "UTC":
        parsed = pc.assume_timezone(parsed, tz, ambiguous="earliest", nonexistent="earliest")
    return pc.cast(parsed, pa.timestamp("us"))


def _temporal(arr: pa.Array, col: Column) -> tuple[pa.Array, pa.Array]:
    arr = pc.utf8_trim_whitespace(arr)
    result = pa.nulls(len(arr), pa.timestamp("us"))
    for fmt in col.formats or ["iso"]:
        if pc.all(pc.or_(pc.is_valid(result), pc.is_null(arr))).as_py():
            break
        result = pc.coalesce(result, _parse_one(arr, fmt, col.timezone))
    bad = pc.and_(pc.is_valid(arr), pc.is_null(result))
    if col.type == "date":
        result = pc.cast(result, pa.date32())
    return result, bad


def cast_column(arr: pa.Array, col: Column) -> tuple[pa.Array, pa.Array]:
    """Return (typed values, boolean mask of values that were present but could not be cast)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = col.type
    if t in ("string", "json"):
        return arr, pa.array([False] * len(arr))
    if t in ("integer", "bigint"):
        return _numeric(arr, INT_RE, pa.int64())
    if t == "float":
        return _numeric(arr, FLOAT_RE, pa.float64())
    if t == "boolean":
        return _boolean(arr, col)
    if t in ("date", "timestamp"):
        return _temporal(arr, col)
    return _decimal(arr, arrow_type(t))


def describe_failure(name: str, col: Column) -> str:
    if col.type in ("date", "timestamp"):
        return f"{name}: not a {col.type} in formats {col.formats or ['iso']}"
    return f"{name}: not a valid {col.type}"
