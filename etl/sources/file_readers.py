"""File bytes → an all-string Arrow table (the raw layer), or a `FileRejected` saying why not.

One reader per format a landing folder receives: CSV, XLSX and JSON documents (optionally exploding a
nested list into child rows). Readers take the file's bytes, the very bytes its checksum was computed
from, and read the whole file before anything is handed on: a file is loaded entirely or not at all,
never half (a truncated export must not load its first half and then fail).

The raw layer keeps values as written: CSV cells stay text, empty cells are null; XLSX numbers and
booleans become their JSON spelling (`7`, `7.5`, `true`), dates and times ISO 8601 (`2026-03-03T17:21:00`);
JSON goes through the REST source's flattening (`etl.sources.records.to_table`). Typing is the mapping's job.

A CSV is parsed with Python's `csv` module in strict mode because it refuses what pyarrow's fast reader
silently accepts: an unclosed quote at the end of a file, which pyarrow reads as one long value, so the
rows after it would be lost without an error. A field may hold up to MAX_FIELD_CHARS characters (16 Mi;
the csv module's own default, 128 Ki, rejected real exports with long notes and a misleading hint about
quoting); a longer field rejects the file with a reason that says so.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterable
from typing import Any

import orjson
import pyarrow as pa

from etl.config.schema import FileSource
from etl.sources.records import get_path, json_text, records_at, to_table

CONVERT_ROWS = 50_000  # rows turned into Arrow at a time, so Python lists stay small on big files
MAX_FIELD_CHARS = 16 * 1024 * 1024  # longest CSV field read (README, Files); beyond: file rejected


class FileRejected(ValueError):
    """The file cannot be loaded as it is; the message is the reason recorded and shown to people."""


def read_file(data: bytes, cfg: FileSource) -> pa.Table:
    """Parse one file; every column is `pa.string()`. Raises FileRejected with a readable reason."""
    if not data:
        raise FileRejected("empty file (0 bytes)")
    reader = {"csv": read_csv, "xlsx": read_xlsx, "json": read_json}[cfg.format]
    table = reader(data, cfg)
    if table.num_columns == 0:  # a JSON document without records: nothing to load, nothing wrong
        return table
    missing = [c for c in cfg.required_columns if c not in table.column_names]
    if missing:
        shown = ", ".join(table.column_names[:20]) or "none"
        raise FileRejected(f"missing required column(s) {', '.join(missing)}; the file has: {shown}")
    return table


# --------------------------------------------------------------------------------------------------- csv


def _text(data: bytes, encoding: str) -> str:
    # utf-8-sig reads plain UTF-8 too, and drops the byte-order mark Excel puts in front of the header.
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileRejected(
            f"not valid {encoding} text: byte 0x{data[exc.start]:02x} on line {line} (position {exc.start}); "
            "export the file as UTF-8 or set source.encoding in the mapping"
        ) from None
    except LookupError:
        raise FileRejected(f"unknown encoding {encoding!r} (source.encoding in the mapping)") from None


def read_csv(data: bytes, cfg: FileSource) -> pa.Table:
    text = io.StringIO(_text(data, cfg.encoding), newline="")
    if csv.field_size_limit() != MAX_FIELD_CHARS:
        csv.field_size_limit(MAX_FIELD_CHARS)  # process-wide, and the same value for every reader
    reader = csv.reader(text, delimiter=cfg.delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise FileRejected("no header line")
        _check_header(header)
        chunks, rows = [], []
        for row in reader:
            if len(row) != len(header):
                if not any(row):  # a blank line (e.g. at the end) is no record
                    continue
                raise FileRejected(
                    f"line {reader.line_num} has {len(row)} fields, the header has {len(header)}")
            rows.append(row)
            if len(rows) >= CONVERT_ROWS:
                chunks.append(_rows_to_table(header, rows))
                rows = []
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise FileRejected(f"a field on line {reader.line_num} is longer than {MAX_FIELD_CHARS:,} characters, "
                               "the longest a CSV field may be (or an unclosed quote runs to the end)") from None
        raise FileRejected(f"broken CSV on line {reader.line_num}: {exc} (an unclosed quote?)") from None
    chunks.append(_rows_to_table(header, rows))
    return pa.concat_tables(chunks)


def _check_header(header: list[str]) -> None:
    if any(not name.strip() for name in header):
        raise FileRejected(f"the header has an empty column name: {header}")
    duplicates = sorted({n for n in header if header.count(n) > 1})
    if duplicates:
        raise FileRejected(f"the header repeats column(s) {', '.join(duplicates)}")


def _rows_to_table(header: list[str], rows: list[list[str | None]] | list[list[str]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(header)
    return pa.table({name: pa.array([v if v != "" else None for v in col], pa.string())
                     for name, col in zip(header, columns, strict=True)})


# -------------------------------------------------------------------------------------------------- xlsx


def read_xlsx(data: bytes, cfg: FileSource) -> pa.Table:
    from openpyxl import load_workbook  # only file sources pay for the import

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileRejected(f"not a readable XLSX workbook (truncated or corrupt): {exc}") from None
    try:
        sheet = _sheet(book, cfg.sheet)
        rows = sheet.iter_rows(values_only=True)
        header = _xlsx_header(next(rows, None))
        chunks, pending = [], []
        for number, values in enumerate(rows, start=2):
            cells = [_cell_text(v) for v in values]
            extra = [c for c in cells[len(header):] if c is not None]
            if extra:
                raise FileRejected(f"row {number} has values beyond the {len(header)} named columns")
            if all(c is None for c in cells):
                continue
            pending.append(cells[: len(header)] + [None] * (len(header) - len(cells)))
            if len(pending) >= CONVERT_ROWS:
                chunks.append(_rows_to_table(header, pending))
                pending = []
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:  # read_only reads lazily
        raise FileRejected(f"not a readable XLSX workbook (truncated or corrupt): {exc}") from None
    finally:
        book.close()
    chunks.append(_rows_to_table(header, pending))
    return pa.concat_tables(chunks)


def _sheet(book: Any, sheet: str | int) -> Any:
    names = book.sheetnames
    if isinstance(sheet, int):
        if sheet >= len(names):
            raise FileRejected(f"no sheet number {sheet}; the workbook has {len(names)}: {', '.join(names)}")
        return book[names[sheet]]
    if sheet not in names:
        raise FileRejected(f"no sheet {sheet!r}; the workbook has: {', '.join(names)}")
    return book[sheet]


def _xlsx_header(values: Iterable[Any] | None) -> list[str]:
    if values is None:
        raise FileRejected("the sheet is empty (no header row)")
    header = [None if v is None else str(v).strip() for v in values]
    while header and not header[-1]:  # formatted but empty cells right of the table
        header.pop()
    if any(not h for h in header):
        raise FileRejected(f"the header row has an empty column name: {header}")
    _check_header([h for h in header if h])
    return [h for h in header if h]


def _cell_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return json_text(value)


# -------------------------------------------------------------------------------------------------- json


def read_json(data: bytes, cfg: FileSource) -> pa.Table:
    if cfg.encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        data = _text(data, cfg.encoding).encode("utf-8")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FileRejected(f"not valid JSON (truncated?): {exc}") from None
    try:
        records = records_at(document, cfg.records_path)
    except ValueError as exc:
        raise FileRejected(str(exc)) from None
    if cfg.explode:
        records = explode(records, cfg.explode, cfg.parent_fields)
    return to_table(records)


def explode(records: list[Any], field: str, parent_fields: dict[str, str]) -> list[dict[str, Any]]:
    """One row per item of the list at `field` of each record, carrying `parent_fields` (parent → column).

    A record without the list has no children; a carried field overrides a child key of the same name,
    because it is the key that links the child to its parent.
    """
    children: list[dict[str, Any]] = []
    for number, record in enumerate(records, start=1):
        items = get_path(record, field) if isinstance(record, dict) else None
        if items is None:
            continue
        if not isinstance(items, list):
            kind = type(items).__name__
            raise FileRejected(f"record {number}: {field!r} is {kind}, expected a list to explode")
        carried = {column: get_path(record, source) for source, column in parent_fields.items()}
        children.extend({**(i if isinstance(i, dict) else {"value": i}), **carried} for i in items)
    return children
