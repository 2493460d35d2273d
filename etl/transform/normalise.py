"""String normalisers named in a mapping's `normalise:` list, applied before casting.

They only reshape values; they never decide validity. A value that is still wrong afterwards (an e-mail
without a domain, a phone number that cannot be made E.164) is left visible so the table's expectation
suite quarantines it with the bad value in the reason.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

StrArray: TypeAlias = pa.Array | pa.ChunkedArray


# Letters NFKD does not decompose into a base letter plus accent: without these, 'Søren' would lose
# its 'ø' instead of becoming 'Soren'.
_ASCII = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE",
                        "œ": "oe", "Œ": "OE", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th",
                        "ı": "i", "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T"})


def fold_accents(text: str | None) -> str | None:
    """The product's one accent folding (STYLE §19): 'Gonçalves' -> 'Goncalves', 'Søren' -> 'Soren',
    'Straße' -> 'Strasse'. Letters of other scripts are kept as they are. Every key built from names
    (the stored `name_key`, identity matching) folds through this function, so they never disagree."""
    if text is None:
        return None
    plain = unicodedata.normalize("NFKD", text.translate(_ASCII))
    return "".join(c for c in plain if not unicodedata.combining(c))


def fold_accents_array(arr: StrArray) -> pa.Array:
    """`fold_accents` on an Arrow string column, once per distinct value (names repeat a lot)."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    uniques = pc.unique(arr).drop_null()
    folded = pa.array([fold_accents(v) for v in uniques.to_pylist()], pa.string())
    return pc.take(folded, pc.index_in(arr, uniques))


def _null_if_blank(arr: StrArray) -> StrArray:
    blank = pc.equal(pc.utf8_trim_whitespace(arr), "")
    return pc.if_else(blank, pa.scalar(None, pa.string()), arr)


def _email(arr: StrArray) -> StrArray:
    return _null_if_blank(pc.utf8_lower(pc.utf8_trim_whitespace(arr)))


def _collapse_spaces(arr: StrArray) -> StrArray:
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, r"\s+", " "))


SIMPLE: dict[str, Callable[[StrArray], StrArray]] = {
    "trim": pc.utf8_trim_whitespace,
    "lower": pc.utf8_lower,
    "upper": pc.utf8_upper,
    "title": pc.utf8_title,
    "collapse_spaces": _collapse_spaces,
    "null_if_blank": _null_if_blank,
    "email": _email,
    "strip_punctuation": lambda a: pc.replace_substring_regex(a, r"[^\w\s]", ""),
    "digits_only": lambda a: pc.replace_substring_regex(a, r"\D", ""),
}

# Country names the demo and common CRMs use, to regions phonenumbers understands.
_COUNTRY_TO_REGION = {
    "usa": "US", "united states": "US", "us": "US", "canada": "CA", "united kingdom": "GB", "uk": "GB",
    "germany": "DE", "france": "FR", "brazil": "BR", "india": "IN", "australia": "AU", "italy": "IT",
    "spain": "ES", "portugal": "PT", "netherlands": "NL", "belgium": "BE", "austria": "AT",
    "switzerland": "CH", "sweden": "SE", "norway": "NO", "denmark": "DK", "finland": "FI", "poland": "PL",
    "czech republic": "CZ", "hungary": "HU", "ireland": "IE", "argentina": "AR", "chile": "CL",
    "mexico": "MX", "china": "CN", "japan": "JP", "venezuela": "VE",
}


def region_of(country: str | None, default: str) -> str:
    if not country:
        return default
    c = country.strip()
    if len(c) == 2 and c.isalpha():
        return c.upper()
    return _COUNTRY_TO_REGION.get(c.lower(), default)


def phone_e164(arr: StrArray, regions: StrArray | None, default_region: str) -> pa.Array:
    """Format phone numbers as E.164; unparseable ones are kept as received for the suite to flag.

    Parsing is per distinct (number, region) pair, so repeated values cost nothing extra; large batches
    are parsed on every core (`etl.transform.phones`).
    """
    from etl.transform.phones import format_all

    values = arr.to_pylist()
    region_list = regions.to_pylist() if regions is not None else [None] * len(values)
    keys = list(dict.fromkeys((raw, country) for raw, country in zip(values, region_list, strict=True)
                              if raw is not None and raw.strip()))
    formatted = format_all([(raw, region_of(country, default_region)) for raw, country in keys])
    cache = dict(zip(keys, formatted, strict=True))
    out = [None if raw is None or not raw.strip() else cache[(raw, country)]
           for raw, country in zip(values, region_list, strict=True)]
    return pa.array(out, pa.string())


def apply_normalisers(arr: StrArray, names: list[str]) -> StrArray:
    """Apply the simple normalisers in order; phone_e164 is applied by the mapper (it needs a region)."""
    for name in names:
        if name in SIMPLE:
            arr = SIMPLE[name](arr)
    return arr


def strip_nul(raw: pa.Table) -> pa.Table:
    """Every text value without its NUL characters (U+0000): the product's one NUL policy.

    PostgreSQL cannot store a NUL in text or JSON at all (COPY fails for the whole batch) and DuckDB
    would keep it, so the same record would load on one warehouse and not the other. A NUL carries no
    meaning in text (a C string ends there), so it is removed, on both warehouses alike, before mapping:
    in mapped columns, extras, keys and the quarantined record."""
    for i, name in enumerate(raw.column_names):
        column = raw.column(i)
        if pa.types.is_string(column.type) and pc.any(pc.match_substring(column, "\x00")).as_py():
            raw = raw.set_column(i, name, pc.replace_substring(column, "\x00", ""))
    return raw
