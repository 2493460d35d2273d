"""The diff, computed in the warehouse: which selected rows the target must receive, and what left it.

Keys and hashes of the mapped selection are staged into a temporary table and joined against
`etl_push_state` (the hash the target last accepted per key): no state -> create, another hash ->
update, the same hash -> unchanged (nothing leaves the warehouse); the very content the target refused
last time -> held (counted rejected again, not re-sent until it changes). In mode `mirror`, keys the
target holds that are absent from the selection are the deletes. A key that appears twice in the
selection is rejected (which of the two would be the truth is a guess). One SQL join for the whole
selection; Python only sees the changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.load.merge import bulk_append
from etl.load.warehouse import dialect_of, raw_dbapi
from etl.state import PUSH_STATE_TABLE as STATE

STAGE = "_etl_push_stage"


@dataclass
class Diff:
    changes: pa.Table  # key, action (create/update), target_id, part, row: the rows to send
    held: pa.Table  # key, reason, part, row_no: refused before with this very content, not sent again
    deletes: pa.Table  # key, target_id: state keys absent from the selection (mirror)
    duplicates: pa.Table  # part, row of rows whose key is selected more than once
    unchanged: int
    state_rows: int
    presend: int = 0  # rows refused before sending (a failed cast, a missing relationship): set by the plan

    def accounted(self) -> int:
        """Selected rows the plan placed: each is exactly one of sent, held, duplicate, refused, unchanged."""
        return (self.changes.num_rows + self.held.num_rows + self.duplicates.num_rows + self.presend
                + self.unchanged)


def stage(conn: Connection, parts: list[tuple[int, pa.Table]]) -> None:
    """(part number, table of _key, _row_hash, _reason) -> the stage; rejected rows with a null hash."""
    big = "BIGINT"
    text = "TEXT" if dialect_of(str(conn.engine.url)) == "postgresql" else "VARCHAR"
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {STAGE}"))
    conn.execute(sa.text(f"CREATE TEMPORARY TABLE {STAGE} (key {text}, hash {big}, part {big}, row_no {big})"))
    for number, table in parts:
        if not table.num_rows:
            continue
        ok = pc.is_null(table["_reason"])
        hashes = pc.if_else(ok, table["_row_hash"], pa.scalar(None, pa.int64()))
        bulk_append(conn, STAGE, pa.table({
            "key": table["_key"], "hash": hashes,
            "part": pa.array([number] * table.num_rows, pa.int64()),
            "row_no": pa.array(range(table.num_rows), pa.int64())}))


def _arrow(conn: Connection, sql: str, params: dict, names: list[str]) -> pa.Table:
    """The rows of `sql` as an Arrow table named `names`; on DuckDB straight from its Arrow result
    (fetching 100,000 changes as Python rows cost more than the join that found them)."""
    if dialect_of(str(conn.engine.url)) == "duckdb":
        native = re.sub(r":(\w+)", r"$\1", sql)  # DuckDB's named parameters; no literal holds a colon
        table = raw_dbapi(conn).sql(native, params=params or None).to_arrow_table()
        return table.rename_columns(names).combine_chunks()
    rows = conn.execute(sa.text(sql), params).all()
    return pa.table({n: pa.array([r[i] for r in rows]) for i, n in enumerate(names)}) if rows else \
        pa.table({n: pa.array([], pa.string() if n in ("key", "action", "target_id", "reason") else pa.int64())
                  for n in names})


def compute(conn: Connection, sync: str, mirror: bool, resend_rejected: bool = False) -> Diff:
    params = {"sync": sync}
    dup = f"SELECT key FROM {STAGE} GROUP BY key HAVING count(*) > 1"
    base = (f"FROM {STAGE} s LEFT JOIN {STATE} st ON st.sync = :sync AND st.key = s.key "
            f"WHERE s.hash IS NOT NULL AND s.key NOT IN ({dup}) "
            "AND (st.hash IS NULL OR st.hash <> s.hash)")  # not what the target already holds
    same_as_refused = "1 = 0" if resend_rejected else "st.rejected_hash IS NOT NULL AND st.rejected_hash = s.hash"
    changes = _arrow(conn, f"""
        SELECT s.key, CASE WHEN st.hash IS NULL THEN 'create' ELSE 'update' END AS action, st.target_id,
               s.part, s.row_no
        {base} AND NOT ({same_as_refused}) ORDER BY s.part, s.row_no""",
                     params, ["key", "action", "target_id", "part", "row_no"])
    held = _arrow(conn, f"SELECT s.key, st.rejected_reason, s.part, s.row_no {base} AND {same_as_refused} "
                        "ORDER BY s.part, s.row_no", params, ["key", "reason", "part", "row_no"])
    duplicates = _arrow(conn, f"SELECT part, row_no FROM {STAGE} WHERE hash IS NOT NULL AND key IN ({dup}) "
                              "ORDER BY part, row_no", {}, ["part", "row_no"])
    unchanged = conn.execute(sa.text(
        f"SELECT count(*) FROM {STAGE} s JOIN {STATE} st ON st.sync = :sync AND st.key = s.key "
        f"AND st.hash = s.hash WHERE s.key NOT IN ({dup})"), params).scalar_one()
    state_rows = conn.execute(sa.text(f"SELECT count(*) FROM {STATE} WHERE sync = :sync AND hash IS NOT NULL"),
                              params).scalar_one()
    deletes = _arrow(conn, f"SELECT st.key, st.target_id FROM {STATE} st WHERE st.sync = :sync "
                           "AND st.hash IS NOT NULL AND NOT EXISTS "
                           f"(SELECT 1 FROM {STAGE} s WHERE s.key = st.key) ORDER BY st.key",
                     params, ["key", "target_id"]) if mirror else \
        pa.table({"key": pa.array([], pa.string()), "target_id": pa.array([], pa.string())})
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {STAGE}"))
    return Diff(changes, held, deletes, duplicates, int(unchanged), int(state_rows))
