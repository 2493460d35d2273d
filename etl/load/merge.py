"""Stage Arrow batches and merge them into a target table on its primary key.

Bulk paths: DuckDB reads the Arrow table directly; PostgreSQL gets CSV through COPY. The merge is an
`INSERT ... ON CONFLICT DO UPDATE` limited to new or changed rows (by content hash), so a rerun of the
same data changes nothing and is counted as `unchanged`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.config.schema import Entity
from etl.load.warehouse import dialect_of, existing_columns, quote, raw_dbapi, sql_type
from etl.transform.mapping import EXTRAS, ROW_HASH

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


def ensure_target(conn: Connection, entity: Entity) -> None:
    """Create the table, or add columns a mapping gained since (schema evolution, never drops)."""
    dialect = dialect_of(str(conn.engine.url))
    cols = {**target_columns(entity), **META_COLUMNS}
    have = existing_columns(conn, entity.target)
    if not have:
        defs = ", ".join(f"{quote(n)} {sql_type(dialect, t)}" for n, t in cols.items())
        pk = ", ".join(quote(k) for k in entity.primary_key)
        key = f", PRIMARY KEY ({pk})" if entity.write_mode == "merge" else ""
        conn.execute(sa.text(f"CREATE TABLE {quote(entity.target)} ({defs}{key})"))
        return
    for name, typ in cols.items():
        if name not in have:
            column = f"{quote(name)} {sql_type(dialect, typ)}"
            conn.execute(sa.text(f"ALTER TABLE {quote(entity.target)} ADD COLUMN {column}"))


def _stage_ddl(conn: Connection, entity: Entity) -> None:
    dialect = dialect_of(str(conn.engine.url))
    cols = {**target_columns(entity), ROW_HASH: "bigint", SEQ: "bigint"}
    defs = ", ".join(f"{quote(n)} {sql_type(dialect, 'text' if t == 'json' else t)}" for n, t in cols.items())
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {STAGE}"))
    conn.execute(sa.text(f"CREATE TEMPORARY TABLE {STAGE} ({defs})"))


def bulk_append(conn: Connection, target: str, table: pa.Table) -> None:
    """Append an Arrow table to an existing table by its column names, on each dialect's fast path."""
    cols = ", ".join(quote(n) for n in table.column_names)
    if dialect_of(str(conn.engine.url)) == "duckdb":
        duck = raw_dbapi(conn)
        duck.register("_etl_batch", table)
        try:
            duck.execute(f"INSERT INTO {quote(target)} ({cols}) SELECT {cols} FROM _etl_batch")
        finally:
            duck.unregister("_etl_batch")
        return
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
    buf.seek(0)
    with raw_dbapi(conn).cursor() as cur:
        cur.copy_expert(f"COPY {quote(target)} ({cols}) FROM STDIN WITH (FORMAT csv)", buf)


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
        bulk_append(conn, STAGE, batch.select(names))
    return seq


def _latest_sql(entity: Entity) -> str:
    """The stage with one row per key: the last one received wins (it is the newest version)."""
    pk = ", ".join(quote(k) for k in entity.primary_key)
    return (f"SELECT * FROM (SELECT s.*, row_number() OVER (PARTITION BY {pk} ORDER BY {SEQ} DESC) AS _rn "
            f"FROM {STAGE} s) latest WHERE _rn = 1")


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
    values = [f"CAST(s.{quote(c)} AS {json_type})" if types[c] == "json" else f"s.{quote(c)}" for c in cols]
    select = ", ".join(values)
    all_cols = ", ".join(quote(c) for c in [*cols, ROW_HASH, "_run_id", "_loaded_at"])
    params = {"run_id": run_id, "loaded_at": loaded_at}
    if entity.write_mode == "merge":
        # An UPDATE of the changed keys and a plain INSERT of the new ones: DuckDB's
        # INSERT ... ON CONFLICT DO UPDATE checks every row against the key index and took twice as
        # long as the plain INSERT on a first load. Each statement is skipped when it has no rows.
        pk0 = quote(entity.primary_key[0])
        if updated:
            sets = ", ".join(f"{quote(c)} = {value}" for c, value in zip(cols, values, strict=True)
                             if c not in entity.primary_key)
            where = " AND ".join(f"{target}.{quote(k)} = s.{quote(k)}" for k in entity.primary_key)
            conn.execute(sa.text(
                f"UPDATE {target} SET {sets}, {ROW_HASH} = s.{ROW_HASH}, _run_id = :run_id, "
                f"_loaded_at = :loaded_at FROM (SELECT s.* FROM ({_latest_sql(entity)}) s JOIN {target} t "
                f"ON {on} WHERE t.{ROW_HASH} <> s.{ROW_HASH}) s WHERE {where}"), params)
        if latest > existing:
            new = f"SELECT s.* FROM ({_latest_sql(entity)}) s LEFT JOIN {target} t ON {on} WHERE t.{pk0} IS NULL"
            conn.execute(sa.text(f"INSERT INTO {target} ({all_cols}) SELECT {select}, s.{ROW_HASH}, :run_id, "
                                 f":loaded_at FROM ({new}) s"), params)
    else:
        if entity.write_mode == "replace":
            conn.execute(sa.text(f"DELETE FROM {target}"))
        conn.execute(sa.text(f"INSERT INTO {target} ({all_cols}) SELECT {select}, s.{ROW_HASH}, :run_id, "
                             f":loaded_at FROM ({_latest_sql(entity)}) s"), params)
    if entity.write_mode == "append":
        return MergeCounts(staged, inserted=latest, updated=0, unchanged=staged - latest)
    # merge and replace count against what the table held before: a full refresh of an unchanged
    # reference table reports its rows `unchanged`, not re-inserted (replace still drops vanished rows)
    inserted = latest - existing
    return MergeCounts(staged, inserted=inserted, updated=updated, unchanged=staged - inserted - updated)
