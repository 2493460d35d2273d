"""SCD type 2 history, kept across builds: how a record's tracked columns changed over time.

The sources keep no history (a CRM deal has one current stage; a company one current owner), and the
core and mart tables are rebuilt from scratch, so history must be recorded as it is observed. A history
model is a SELECT of the current state (one row per `unique_key`, its `tracked` columns and a
`changed_at` moment, the source record's last modification); each build compares it with the open
versions and, incrementally:

- closes the open version of every record whose tracked columns differ (valid_to = the new changed_at)
  and opens a new one (valid_from = changed_at, is_current);
- opens a first version for a record never seen before;
- leaves everything else untouched, so a build with no change writes nothing.

Null-safe comparison (IS DISTINCT FROM) makes null -> value a change. A record that disappears from the
source keeps its open version (a deletion is not a stage). Two changes between builds show as one.
Plain SQL both DuckDB and PostgreSQL run (UPDATE ... FROM, NOT EXISTS), in the build's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.layers import expose, qualified
from etl.load.warehouse import quote

if TYPE_CHECKING:
    from etl.models.build import Model

VERSION_COLUMNS = ("valid_from", "valid_to", "is_current")


def record_history(conn: Connection, model: Model) -> dict[str, int]:
    """Apply the current state of `model` to its history table; returns {'closed': n, 'opened': n}."""
    table, keys, tracked = quote(model.name), model.unique_key, model.tracked
    current = f"({model.sql}) cur"
    data_cols = [c for c in model.columns if c not in VERSION_COLUMNS]
    selected = ", ".join(f"cur.{quote(c)}" for c in data_cols)
    conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {qualified(model.name)} AS SELECT {selected}, "
                         f"CAST(cur.changed_at AS TIMESTAMP) AS valid_from, CAST(NULL AS TIMESTAMP) AS valid_to, "
                         f"TRUE AS is_current FROM {current} WHERE 1 = 0"))
    expose(conn, model.name, replace=False)
    same_key = " AND ".join(f"h.{quote(k)} = cur.{quote(k)}" for k in keys)
    changed = " OR ".join(f"h.{quote(c)} IS DISTINCT FROM cur.{quote(c)}" for c in tracked)
    closed = conn.execute(sa.text(
        f"UPDATE {table} AS h SET valid_to = cur.changed_at, is_current = FALSE FROM {current} "
        f"WHERE h.is_current AND {same_key} AND ({changed})")).rowcount
    cols = ", ".join(quote(c) for c in data_cols)
    opened = conn.execute(sa.text(
        f"INSERT INTO {table} ({cols}, valid_from, valid_to, is_current) "
        f"SELECT {selected}, cur.changed_at, NULL, TRUE FROM {current} "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} h WHERE h.is_current AND {same_key})")).rowcount
    return {"closed": closed, "opened": opened}
