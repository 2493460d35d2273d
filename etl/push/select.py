"""Select what a sync sends: read the warehouse in bounded Arrow batches and map them into payloads.

The selection is the sync's table or query, joined in the warehouse to the crosswalks its
`relationships` name (a CRM owner id -> the HR employee id of the same person). Each batch is turned to
text and mapped by the inbound `map_batch` (same vocabulary, same casts, same row hash), so a payload is
typed exactly as the YAML says and its hash is the hash of what the target will receive.

A row that cannot be sent as the YAML means it (a failed cast or conversion, a relationship without a
counterpart or with two) carries its reason in `_reason` and is rejected without being sent: nothing
is invented to fill the gap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.config.outbound import Sync
from etl.load.warehouse import dialect_of, quote, raw_dbapi
from etl.transform.mapping import ERRORS, ROW_HASH, SRC_ROW, map_batch, row_hash
from etl.transform.pii import protect

KEY, HASH, REASON = "_key", ROW_HASH, "_reason"
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def selection_sql(sync: Sync, dialect: str) -> str:
    """The sync's rows plus one `<output>` and `<output>__n` (candidates) per relationship."""
    base = f"SELECT * FROM {quote(sync.source.table)}" if sync.source.table else sync.source.query
    if not sync.relationships:
        return f"SELECT * FROM ({base}) s"
    text = "TEXT" if dialect == "postgresql" else "VARCHAR"
    cols, joins = ["s.*"], []
    for i, rel in enumerate(sync.relationships):
        for name in (rel.from_system, rel.to_system):
            if not _NAME.match(name):
                raise ValueError(f"relationships.{i}: system {name!r} must be letters, digits and _")
        xw = quote(rel.crosswalk)
        joins.append(
            f"LEFT JOIN (SELECT a.record_id AS from_id, MIN(b.record_id) AS to_id, "
            f"COUNT(DISTINCT b.record_id) AS n FROM {xw} a JOIN {xw} b ON b.person_id = a.person_id "
            f"AND b.system = '{rel.to_system}' WHERE a.system = '{rel.from_system}' GROUP BY a.record_id) r{i} "
            f"ON r{i}.from_id = CAST(s.{quote(rel.column)} AS {text})")
        cols += [f"CASE WHEN r{i}.n = 1 THEN r{i}.to_id END AS {quote(rel.output)}",
                 f"r{i}.n AS {quote(rel.output + '__n')}"]
    return f"SELECT {', '.join(cols)} FROM ({base}) s {' '.join(joins)}"


def read_batches(conn: Connection, sync: Sync) -> Iterator[pa.Table]:
    """The selection in Arrow batches of at most `source.batch_rows` rows (DuckDB natively, else streamed)."""
    dialect = dialect_of(str(conn.engine.url))
    sql, size = selection_sql(sync, dialect), sync.source.batch_rows
    if dialect == "duckdb":
        cursor = raw_dbapi(conn).cursor()  # its own result stream; the stage uses the connection
        try:
            for batch in cursor.sql(sql).to_arrow_reader(size):
                yield pa.Table.from_batches([batch])
        finally:
            cursor.close()
        return
    # per statement: Connection.execution_options() would make every later statement a server-side cursor
    result = conn.execute(sa.text(sql), execution_options={"stream_results": True, "yield_per": size})
    names = list(result.keys())
    for rows in result.partitions(size):
        yield pa.table({n: pa.array([r[i] for r in rows]) for i, n in enumerate(names)})


def as_text(table: pa.Table) -> pa.Table:
    """Every column as text, the way a source hands raw batches to the mapping."""
    out = {}
    for name in table.column_names:
        col = table[name]
        if pa.types.is_null(col.type):
            col = col.cast(pa.string())
        elif not pa.types.is_string(col.type):
            col = pc.cast(col, pa.string())
        out[name] = col
    return pa.table(out)


def key_text(table: pa.Table, keys: list[str]) -> pa.Array:
    """The external id: the key column's text, or several joined with '|' (one codec for keys)."""
    parts = [pc.cast(table[k], pa.string()) for k in keys]
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "|", null_handling="replace")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _relationship_reasons(sync: Sync, raw: pa.Table) -> list[pa.Array]:
    reasons = []
    for rel in sync.relationships:
        if not rel.required:
            continue
        n = pc.fill_null(pc.cast(raw[rel.output + "__n"], pa.int64()), 0)
        value = pc.fill_null(raw[rel.column], "")
        where = f" in {rel.crosswalk}"
        none = pc.binary_join_element_wise(
            f"relationship: no {rel.to_system} record linked to {rel.from_system} {rel.column} '", value,
            f"'{where}", "")
        many = pc.binary_join_element_wise(
            f"relationship: {rel.from_system} {rel.column} '", value,
            f"' links to several {rel.to_system} records{where}", "")
        many_or_ok = pc.if_else(pc.greater(n, 1), many, pa.scalar(None, pa.string()))
        reasons.append(pc.if_else(pc.equal(n, 0), none, many_or_ok))
    return reasons


def map_selection(sync: Sync, batch: pa.Table, rates) -> tuple[pa.Table, int]:
    """(payload columns + _key, _row_hash, _reason) of the rows the filters keep, and how many they drop."""
    raw = as_text(batch)
    result = map_batch(raw, sync.entity, rates)
    mapped = result.table
    reasons = [mapped[ERRORS].combine_chunks()]
    if sync.relationships and mapped.num_rows:
        rows = mapped[SRC_ROW].combine_chunks()
        reasons += [pc.take(r, rows) for r in _relationship_reasons(sync, raw)]
    joined = reasons[0]
    for extra in reasons[1:]:
        joined = pc.if_else(pc.is_null(joined), extra,
                            pc.if_else(pc.is_null(extra), joined, pc.binary_join_element_wise(joined, extra, "; ")))
    key = key_text(mapped, sync.key)
    missing = pc.is_null(key)
    joined = pc.if_else(pc.and_(missing, pc.is_null(joined)),
                        pa.scalar(f"key ({', '.join(sync.key)}) is missing", pa.string()), joined)
    out = protect(mapped.select(sync.payload_columns), sync.entity)
    # the hash of exactly what the target receives: a change in a column it never sees sends nothing
    out = out.append_column(KEY, pc.fill_null(key, "")).append_column(HASH, row_hash(out))
    return out.append_column(REASON, joined), result.filtered
