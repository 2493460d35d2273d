"""Stage Arrow batches and merge them into a target table on its primary key.

Bulk paths: DuckDB reads the Arrow table directly; PostgreSQL gets CSV through COPY. The merge is an
`INSERT ... ON CONFLICT DO UPDATE` limited to new or changed rows (by content hash), so a rerun of the
same data changes nothing and is counted as `unchanged`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.columns import CURSOR_RANK, EXTRAS, ROW_HASH
from etl.config.schema import Entity
from etl.layers import expose, qualified
from etl.load.warehouse import dialect_of, existing_columns, quote, raw_dbapi, sql_type

SEQ = "_seq"
STAGE = "_etl_stage"
META_COLUMNS = {ROW_HASH: "bigint", "_run_id": "text", "_loaded_at": "timestamp"}


@dataclass
class MergeCounts:
    staged: int
    inserted: int
    updated: int
    unchanged: int


def target_columns(entity: Entity) -> dict[str, str]:
    cols = {name: ("string" if c.pii in ("hash", "mask") else c.type)
            for name, c in entity.columns.items() if c.pii != "drop"}
    if entity.extras == "keep":
        cols[EXTRAS] = "json"
    return cols


def ensure_target(conn: Connection, entity: Entity) -> list[str]:
    """Create the table, or add columns a mapping gained since (schema evolution, never drops).

    Returns the columns added to an existing table (their old rows may be filled from `extras`)."""
    dialect = dialect_of(str(conn.engine.url))
    cols = {**target_columns(entity), **META_COLUMNS}
    have = existing_columns(conn, entity.target)
    if not have:
        defs = ", ".join(f"{quote(n)} {sql_type(dialect, t)}" for n, t in cols.items())
        pk = ", ".join(quote(k) for k in entity.primary_key)
        key = f", PRIMARY KEY ({pk})" if entity.write_mode == "merge" else ""
        conn.execute(sa.text(f"CREATE TABLE {qualified(entity.target)} ({defs}{key})"))
        expose(conn, entity.target)
        return []
    added = []
    for name, typ in cols.items():
        if name not in have:
            column = f"{quote(name)} {sql_type(dialect, typ)}"
            conn.execute(sa.text(f"ALTER TABLE {qualified(entity.target)} ADD COLUMN {column}"))
            added.append(name)
    if added:
        expose(conn, entity.target)  # the view lists the new columns too
    return added


def _stage_ddl(conn: Connection, entity: Entity) -> None:
    dialect = dialect_of(str(conn.engine.url))
    cols = {**target_columns(entity), ROW_HASH: "bigint", SEQ: "bigint", CURSOR_RANK: "float"}
    defs = ", ".join(f"{quote(n)} {sql_type(dialect, 'text' if t == 'json' else t)}" for n, t in cols.items())
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {STAGE}"))
    conn.execute(sa.text(f"CREATE TEMPORARY TABLE {STAGE} ({defs})"))


class LoadError(RuntimeError):
    """A batch the warehouse refused; the message names the record's key and column, never its values."""


def bulk_append(conn: Connection, target: str, table: pa.Table, keys: Sequence[str] = ()) -> None:
    """Append an Arrow table to an existing table by its column names, on each dialect's fast path.

    `keys`: the columns that name a record in an error (a refused COPY reports the line, not the key)."""
    cols = ", ".join(quote(n) for n in table.column_names)
    if dialect_of(str(conn.engine.url)) == "duckdb":
        duck = raw_dbapi(conn)
        # A stream of the batches, not the Table (nor Table.to_reader()): DuckDB kept those alive until
        # the transaction ended, so staging 1M rows held every part file mapped (+600 MB RSS).
        duck.register("_etl_batch", pa.RecordBatchReader.from_batches(table.schema, table.to_batches()))
        try:
            duck.execute(f"INSERT INTO {quote(target)} ({cols}) SELECT {cols} FROM _etl_batch")
        finally:
            duck.unregister("_etl_batch")
        return
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
    buf.seek(0)
    import psycopg2

    with raw_dbapi(conn).cursor() as cur:
        try:
            cur.copy_expert(f"COPY {quote(target)} ({cols}) FROM STDIN WITH (FORMAT csv)", buf)
        except psycopg2.DataError as exc:
            raise LoadError(_copy_failure(target, table, keys, exc)) from None  # its text quotes the value


def _copy_failure(target: str, table: pa.Table, keys: Sequence[str], exc) -> str:
    """`COPY into t refused the record with key 42 (column note): invalid byte sequence ...`, with every
    quoted value in PostgreSQL's message replaced by "…"."""
    found = re.search(r"line (\d+)(?:, column (\w+))?", getattr(exc.diag, "context", None) or "")
    what = re.sub(r'"[^"]*"', '"…"', getattr(exc.diag, "message_primary", None) or type(exc).__name__)
    if not found:
        return f"COPY into {target} refused a record: {what}"
    row = int(found.group(1)) - 1  # no header line
    named = [k for k in keys if k in table.column_names]
    key = "|".join(str(table[k][row].as_py()) for k in named) if named and row < table.num_rows else None
    record = f"the record with key {key}" if key else f"record {row + 1} of the batch"
    column = f" (column {found.group(2)})" if found.group(2) else ""
    return f"COPY into {target} refused {record}{column}: {what}"


def stage_batches(conn: Connection, entity: Entity, batches: Iterable[pa.Table]) -> int:
    """Copy every batch into a temporary stage table, numbering rows in arrival order."""
    _stage_ddl(conn, entity)
    names = [*target_columns(entity), ROW_HASH, SEQ]
    seq = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        batch = batch.append_column(SEQ, pa.array(range(seq, seq + batch.num_rows), pa.int64()))
        seq += batch.num_rows
        bulk_append(conn, STAGE, batch.select([*names, CURSOR_RANK] if CURSOR_RANK in batch.column_names else names),
                    entity.primary_key)
    return seq


def _latest_sql(entity: Entity) -> str:
    """The stage with one row per key: the version with the greatest cursor wins (a source may send an
    old version after a new one); among equal cursors, or without one, the last received."""
    pk = ", ".join(quote(k) for k in entity.primary_key)
    order = f"{CURSOR_RANK} DESC NULLS LAST, {SEQ} DESC"
    return (f"SELECT * FROM (SELECT s.*, row_number() OVER (PARTITION BY {pk} ORDER BY {order}) AS _rn "
            f"FROM {STAGE} s) latest WHERE _rn = 1")


def _delete_insert(conn: Connection, entity: Entity, select: str, all_cols: str, params: dict,
                   updated: int, new: int) -> None:
    """The merge as DuckDB likes it: delete the changed keys, then insert changed and new rows plainly.

    Same rows as the upsert below. DuckDB's INSERT ... ON CONFLICT DO UPDATE took twice as long as a
    plain INSERT on a first load (every row is checked against the key index), and an UPDATE leaves
    the next checkpoint rewriting every row group it touched: 0.3 s for 1% of 100k rows, which the
    DELETE (a deletion mark) + INSERT (appended) avoids. Used only when the merge writes every column
    of the table, so no value of a column the mapping has since dropped is lost.
    """
    target, pk = quote(entity.target), entity.primary_key
    on = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in pk)
    if updated:
        keys = ", ".join(f"s.{quote(k)}" for k in pk)
        match = " AND ".join(f"{target}.{quote(k)} = s.{quote(k)}" for k in pk)
        conn.execute(sa.text(f"DELETE FROM {target} USING (SELECT {keys} FROM ({_latest_sql(entity)}) s "
                             f"JOIN {target} t ON {on} WHERE t.{ROW_HASH} <> s.{ROW_HASH}) s WHERE {match}"))
    if updated or new:
        absent = f"SELECT s.* FROM ({_latest_sql(entity)}) s LEFT JOIN {target} t ON {on} " \
                 f"WHERE t.{quote(pk[0])} IS NULL"
        conn.execute(sa.text(f"INSERT INTO {target} ({all_cols}) SELECT {select}, s.{ROW_HASH}, :run_id, "
                             f":loaded_at FROM ({absent}) s"), params)


def _writes_every_column(conn: Connection, entity: Entity, written: list[str]) -> bool:
    return set(existing_columns(conn, entity.target)) == set(written)


def merge_stage(conn: Connection, entity: Entity, staged: int, run_id: str, loaded_at) -> MergeCounts:
    dialect = dialect_of(str(conn.engine.url))
    types = target_columns(entity)
    target, cols = quote(entity.target), list(types)
    on = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in entity.primary_key)
    row = conn.execute(sa.text(
        f"SELECT count(*) AS latest, count(t.{quote(entity.primary_key[0])}) AS existing, "
        f"sum(CASE WHEN t.{ROW_HASH} <> s.{ROW_HASH} THEN 1 ELSE 0 END) AS changed "
        f"FROM ({_latest_sql(entity)}) s LEFT JOIN {target} t ON {on}")).one()
    latest, existing, updated = int(row[0]), int(row[1]), int(row[2] or 0)
    json_type = sql_type(dialect, "json")
    select = ", ".join(
        f"CAST(s.{quote(c)} AS {json_type})" if types[c] == "json" else f"s.{quote(c)}" for c in cols
    )
    written = [*cols, ROW_HASH, "_run_id", "_loaded_at"]
    all_cols = ", ".join(quote(c) for c in written)
    params = {"run_id": run_id, "loaded_at": loaded_at}
    if entity.write_mode == "merge" and dialect == "duckdb" and _writes_every_column(conn, entity, written):
        _delete_insert(conn, entity, select, all_cols, params, updated, new=latest - existing)
    else:
        changed = f"SELECT s.* FROM ({_latest_sql(entity)}) s LEFT JOIN {target} t ON {on} " \
                  f"WHERE t.{quote(entity.primary_key[0])} IS NULL OR t.{ROW_HASH} <> s.{ROW_HASH}"
        source = changed if entity.write_mode == "merge" else _latest_sql(entity)
        sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in written if c not in entity.primary_key)
        conflict = f" ON CONFLICT ({', '.join(quote(k) for k in entity.primary_key)}) DO UPDATE SET {sets}" \
            if entity.write_mode == "merge" else ""
        if entity.write_mode == "replace":
            conn.execute(sa.text(f"DELETE FROM {target}"))
        conn.execute(sa.text(f"INSERT INTO {target} ({all_cols}) SELECT {select}, s.{ROW_HASH}, :run_id, :loaded_at "
                             f"FROM ({source}) s{conflict}"), params)
    if entity.write_mode == "append":
        return MergeCounts(staged, inserted=latest, updated=0, unchanged=staged - latest)
    # merge and replace count against what the table held before: a full refresh of an unchanged
    # reference table reports its rows `unchanged`, not re-inserted (replace still drops vanished rows)
    inserted = latest - existing
    return MergeCounts(staged, inserted=inserted, updated=updated, unchanged=staged - inserted - updated)
