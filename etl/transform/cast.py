"""Cast raw string columns to the types a mapping declares, vectorised, reporting what failed.

Every raw value is text (the extract layer keeps data as received). A value that is present but cannot
be read as the declared type becomes null in the typed column and yields a reason, so the row goes to
quarantine instead of being loaded with a guess. "Read as" is strict, because a cast that succeeds with
another value than the one written is worse than a failure (it invents data nobody sees):

* dates and times must be real in their declared format: `2024-02-30` or `31/02/2026 10:00` are not
  rolled over into March (every value a format parses is checked by writing it back, and the few that
  do not write back identically are checked one by one by Python's strict `strptime`);
* years run from 1 to 9999 on both warehouses (PostgreSQL has no year 0, DuckDB would store it);
* a naive local time inside a daylight-saving gap (02:30 on the spring-forward night) never existed:
  quarantined, not shifted. A time in the autumn overlap exists twice: a strftime format takes the
  earlier instant, an ISO value is quarantined (pandas' rule), as before;
* numbers must fit: a decimal is rounded half away from zero to its scale and must then fit its
  precision (compared as decimals, never through a float); an integer beyond 64 bits, a float that
  overflows to infinity, an epoch beyond the year 9999 are refused.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl.config.schema import Column, arrow_type

INT_RE = r"^\s*[-+]?\d+\s*$"
FLOAT_RE = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
DECIMAL_RE = r"^\s*[-+]?(\d+\.?\d*|\.\d+)\s*$"
AWARE_RE = r"(?:Z|[+-]\d{2}:?\d{2})$"  # an ISO timestamp with a zone: an instant
DECIMAL_PARTS = r"^\s*(?P<sign>[-+]?)0*(?P<int>\d*)\.?(?P<frac>\d*)\s*$"
FIRST, LAST = datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)  # the years both warehouses store


def _valid(arr: pa.Array, ok: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Split into (values with the invalid ones nulled, mask of present-but-invalid)."""
    bad = pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(ok, False)))
    return pc.if_else(bad, pa.scalar(None, arr.type), arr), bad


def _numeric(arr: pa.Array, pattern: str, target: pa.DataType) -> tuple[pa.Array, pa.Array]:
    clean, bad = _valid(arr, pc.match_substring_regex(arr, pattern))
    text = pc.utf8_trim_whitespace(clean)
    if pa.types.is_integer(target):
        values = _int64(text)
    else:
        values = pc.cast(text, target)
        values = pc.if_else(pc.is_finite(values), values, pa.scalar(None, target))  # 1e999 is not infinity
    return values, pc.or_(bad, pc.and_(pc.is_valid(text), pc.is_null(values)))


def _int64(text: pa.Array) -> pa.Array:
    """Text of digits as int64; a value beyond 64 bits becomes null (refused), not an error for the batch."""
    try:
        return pc.cast(text, pa.int64())
    except pa.ArrowInvalid:
        def fits(v: str | None) -> int | None:
            return None if v is None or not -2**63 <= int(v) < 2**63 else int(v)
        return pa.array([fits(v) for v in text.to_pylist()], pa.int64())


def _decimal(arr: pa.Array, target: pa.Decimal128Type) -> tuple[pa.Array, pa.Array]:
    """Rounded half away from zero to the scale, then checked against the precision, all in decimals:
    the digits past scale + 1 cannot change that rounding, so they are cut before the cast."""
    clean, bad = _valid(arr, pc.match_substring_regex(arr, DECIMAL_RE))
    parts = pc.extract_regex(clean, DECIMAL_PARTS)
    whole, frac = pc.struct_field(parts, "int"), pc.struct_field(parts, "frac")
    room = target.precision - target.scale  # integer digits the column holds
    long = pc.fill_null(pc.greater(pc.utf8_length(whole), room), False)
    frac = pc.utf8_slice_codeunits(pc.binary_join_element_wise(frac, "0" * (target.scale + 1), ""),
                                   0, target.scale + 1)
    text = pc.binary_join_element_wise(pc.struct_field(parts, "sign"), pc.if_else(pc.equal(whole, ""), "0", whole),
                                       ".", frac, "")
    text = pc.if_else(long, pa.scalar(None, pa.string()), text)
    wide_type = pa.decimal128(38, target.scale + 1) if room + target.scale < 37 else pa.decimal256(76, target.scale + 1)
    rounded = pc.round(pc.cast(text, wide_type), ndigits=target.scale, round_mode="half_towards_infinity")
    limit = pa.scalar(Decimal(10) ** room, wide_type)
    fits = pc.fill_null(pc.less(pc.abs(rounded), limit), False)
    rounded, overflow = _valid(rounded, fits)
    return pc.cast(rounded, target), pc.or_(bad, pc.or_(overflow, pc.fill_null(long, False)))


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
        return _epoch(arr, fmt)
    parsed = _strict(arr, fmt, _within(pc.strptime(arr, format=fmt, unit="us", error_is_null=True)))
    if "%z" in fmt:
        return pc.cast(parsed, pa.timestamp("us"))  # strptime with %z yields UTC instants
    if tz == "UTC":
        return parsed
    return _local_to_utc(parsed, tz)


def _local_to_utc(parsed: pa.Array, tz: str) -> pa.Array:
    """Naive local wall times to naive UTC: a time the clocks skipped becomes null (refused), one they
    repeated is the earlier instant. pandas, not Arrow's assume_timezone: Arrow applies no daylight
    saving after 2037 (its zone data stops there) and would shift every summer time by an hour."""
    local = pd.Series(parsed.to_pandas(), dtype="datetime64[us]")
    earlier = np.ones(len(local), dtype=bool)  # for a repeated hour: the first (summer-time) instant
    utc = local.dt.tz_localize(tz, ambiguous=earlier, nonexistent="NaT").dt.tz_convert("UTC").dt.tz_localize(None)
    return pa.array(utc.astype("datetime64[us]"), pa.timestamp("us"), from_pandas=True)


def _epoch(arr: pa.Array, fmt: str) -> pa.Array:
    clean, _ = _valid(arr, pc.match_substring_regex(arr, INT_RE))
    number = _int64(pc.utf8_trim_whitespace(clean))
    per_s = 1000 if fmt == "epoch_ms" else 1
    low, high = (int((t - datetime(1970, 1, 1)).total_seconds()) * per_s for t in (FIRST, LAST))
    inside = pc.and_(pc.greater_equal(number, low), pc.less_equal(number, high))
    number = pc.if_else(pc.fill_null(inside, False), number, pa.scalar(None, pa.int64()))
    unit = "ms" if fmt == "epoch_ms" else "s"
    return pc.cast(pc.cast(number, pa.timestamp(unit)), pa.timestamp("us"))


# directive -> (regex of what strptime reads, component of the parsed value it must equal)
_FIELDS = {"%Y": (r"\d{1,4}", pc.year), "%m": (r"\d{1,2}", pc.month), "%d": (r"\d{1,2}", pc.day),
           "%H": (r"\d{1,2}", pc.hour), "%M": (r"\d{1,2}", pc.minute), "%S": (r"\d{1,2}", pc.second)}


def _format_regex(fmt: str) -> tuple[str, list] | None:
    """A regex capturing the numeric fields of `fmt`, or None when `fmt` uses another directive."""
    pattern, i = "", 0
    fields: list = []
    while i < len(fmt):
        if fmt[i] != "%":
            pattern += r"\s+" if fmt[i].isspace() else re.escape(fmt[i])
            i += 1
            continue
        directive = fmt[i:i + 2]
        if directive == "%%":
            pattern += "%"
        elif directive in _FIELDS:
            pattern += f"(?P<f{len(fields)}>{_FIELDS[directive][0]})"
            fields.append(_FIELDS[directive][1])
        elif directive == "%z":  # the offset: the fields are compared in the text's local time
            pattern += r"(?P<zs>[+-])(?P<zh>\d{2}):?(?P<zm>\d{2})"
        else:
            return None
        i += 2
    return rf"^\s*{pattern}\s*$", fields


def _within(moments: pa.Array) -> pa.Array:
    """Null outside the years 1-9999 (a zoned value: its UTC instant)."""
    naive = pc.cast(moments, pa.timestamp("us")) if moments.type.tz else moments
    inside = pc.and_(pc.greater_equal(naive, pa.scalar(FIRST, pa.timestamp("us"))),
                     pc.less_equal(naive, pa.scalar(LAST, pa.timestamp("us"))))
    return pc.if_else(pc.fill_null(inside, False), moments, pa.scalar(None, moments.type))


def _suspect(fmt: str, parsed: pa.Array) -> pa.Array:
    """Values a rollover could have produced. strptime checks each field's range (%d 1-31, %m 1-12,
    %H 0-23, %M 0-59, %S 0-61), so only a day past its month's end (30 February -> 1-3 March) or a
    leap second (:60, :61 -> :00, :01) roll over; other directives are all checked."""
    if _format_regex(fmt) is None:
        return pc.is_valid(parsed)
    suspect = pa.array([False] * len(parsed))
    if "%d" in fmt:  # with %z the value is UTC: a local 1st-3rd may be a UTC 28th-4th
        day = pc.day(parsed)
        late = pc.greater_equal(day, 27) if "%z" in fmt else pa.array([False] * len(parsed))
        suspect = pc.or_(suspect, pc.or_(pc.less_equal(day, 4 if "%z" in fmt else 3), late))
    if "%S" in fmt:
        suspect = pc.or_(suspect, pc.less_equal(pc.second(parsed), 1))
    return pc.fill_null(suspect, False)


def _strict(arr: pa.Array, fmt: str, parsed: pa.Array) -> pa.Array:
    """Keep a parsed value only if it is the date the text wrote: Arrow's strptime rolls `2024-02-30`
    over to March 1st. The values a rollover could have produced are checked: for formats of numeric
    fields (%Y %m %d %H %M %S) each field of the text is compared with the parsed value's; for others
    the value is written back with the format and compared with its text. A value that differs (a
    rollover, or only a missing zero pad, a month name's case, a zone offset) is re-read by Python's
    strptime, which refuses dates that do not exist, and kept only if both agree."""
    rows = pc.indices_nonzero(_suspect(fmt, parsed))
    if len(rows) == 0:
        return parsed
    text, value = arr.take(rows), parsed.take(rows)
    spec = _format_regex(fmt)
    if spec is not None:
        pattern, fields = spec
        found = pc.extract_regex(text, pattern)
        same = pc.is_valid(found)
        if "%z" in fmt:  # back to the text's local time
            minutes = pc.add(pc.multiply(pc.cast(pc.struct_field(found, "zh"), pa.int64()), 60),
                             pc.cast(pc.struct_field(found, "zm"), pa.int64()))
            minutes = pc.if_else(pc.equal(pc.struct_field(found, "zs"), "-"), pc.negate(minutes), minutes)
            micros = pc.multiply(pc.fill_null(minutes, 0), 60_000_000)
            value = pc.cast(pc.add(pc.cast(pc.cast(value, pa.timestamp("us")), pa.int64()), micros),
                            pa.timestamp("us"))
        for i, component in enumerate(fields):
            same = pc.and_(same, pc.equal(pc.cast(pc.struct_field(found, f"f{i}"), pa.int64()), component(value)))
        differs = pc.invert(pc.fill_null(same, False))
    else:
        zoned = pc.cast(value, pa.timestamp("us", tz="UTC")) if "%z" in fmt else value
        differs = pc.fill_null(pc.not_equal(pc.strftime(zoned, format=fmt), text), True)
    if not pc.any(differs).as_py():
        return parsed
    picked = pc.indices_nonzero(differs)
    recheck = rows.take(picked).to_pylist()
    texts, values = text.take(picked).to_pylist(), value.take(picked).to_pylist()
    agreed = [_python_agrees(t, fmt, v) for t, v in zip(texts, values, strict=True)]
    keep = _scatter(agreed, recheck, len(arr))
    return pc.if_else(pc.fill_null(keep, True), parsed, pa.scalar(None, parsed.type))


def _scatter(values: list[bool], rows: list[int], n: int) -> pa.Array:
    out: list[bool | None] = [None] * n
    for r, v in zip(rows, values, strict=True):
        out[r] = v
    return pa.array(out, pa.bool_())


def _python_agrees(text: str, fmt: str, value) -> bool:
    try:
        moment = datetime.strptime(text, fmt)
    except ValueError:
        return False
    if moment.tzinfo is not None:
        from datetime import UTC

        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return value is not None and moment == value.replace(tzinfo=None)


def _temporal(arr: pa.Array, col: Column) -> tuple[pa.Array, pa.Array]:
    arr = pc.utf8_trim_whitespace(arr)
    result = pa.nulls(len(arr), pa.timestamp("us"))
    for fmt in col.formats or ["iso"]:
        if pc.all(pc.or_(pc.is_valid(result), pc.is_null(arr))).as_py():
            break
        result = pc.coalesce(result, _parse_one(arr, fmt, col.timezone))
    result = _within(result)
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
