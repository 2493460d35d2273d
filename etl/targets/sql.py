"""A SQL table target: upsert on the sync key's column, the database's own id read back and kept.

Each chunk is one transaction. It is first tried as one statement batch inside a savepoint; when the
database refuses it (a CHECK, NOT NULL or foreign key the target enforces), the chunk is replayed row by
row, each in its own savepoint, so the one bad row becomes a `rejected` outcome with the database's
message and the others commit. The upsert is `INSERT ... ON CONFLICT (key_column) DO UPDATE` (SQLite
and PostgreSQL alike), so a rerun after a crash updates instead of duplicating; the key column must be
UNIQUE in the target. Error texts keep the database's first line only, never the SQL parameters
(they hold the payload's personal data).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from etl.config.outbound import SqlTarget
from etl.load.warehouse import quote, with_driver
from etl.sources.connections import get_connection
from etl.targets.base import Outcome, Record, TargetError


def db_reason(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig).strip().splitlines()
    return (text[0] if text else type(exc.orig).__name__)[:300]


class SqlTableTarget:
    def __init__(self, cfg: SqlTarget) -> None:
        self.cfg = cfg
        url = with_driver(get_connection(cfg.connection).sqlalchemy_url())
        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool, hide_parameters=True)
        self.sqlite = self.engine.dialect.name == "sqlite"
        self.requests = 0

    def _upsert(self, columns: list[str], only_existing: bool) -> sa.TextClause:
        t, key = quote(self.cfg.table), self.cfg.key_column
        sets = ", ".join(f"{quote(c)} = :{_p(c)}" for c in columns if c != key)
        if only_existing:
            return sa.text(f"UPDATE {t} SET {sets} WHERE {quote(key)} = :{_p(key)}")
        cols = ", ".join(quote(c) for c in columns)
        values = ", ".join(f":{_p(c)}" for c in columns)
        excluded = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c != key)
        return sa.text(f"INSERT INTO {t} ({cols}) VALUES ({values}) "
                       f"ON CONFLICT ({quote(key)}) DO UPDATE SET {excluded}")

    def _params(self, rec: Record) -> dict:
        values = {**rec.payload, self.cfg.key_column: rec.key}
        if self.sqlite:  # sqlite3 binds neither Decimal nor (without deprecated adapters) dates
            values = {k: (str(v) if isinstance(v, Decimal | dt.date) else v) for k, v in values.items()}
        return {_p(k): v for k, v in values.items()}

    def _existing(self, conn: sa.Connection, keys: list[str]) -> dict[str, str | None]:
        id_col = quote(self.cfg.id_column) if self.cfg.id_column else "NULL"
        stmt = sa.text(f"SELECT {quote(self.cfg.key_column)}, {id_col} FROM {quote(self.cfg.table)} "
                       f"WHERE {quote(self.cfg.key_column)} IN :keys").bindparams(sa.bindparam("keys", expanding=True))
        return {str(k): (None if i is None else str(i)) for k, i in conn.execute(stmt, {"keys": keys})}

    def write(self, records: list[Record], only_existing: bool) -> list[Outcome]:
        if not records:
            return []
        columns = list(dict.fromkeys([self.cfg.key_column, *records[0].payload]))
        stmt = self._upsert(columns, only_existing)
        keys = [r.key for r in records]
        try:
            with self.engine.begin() as conn:
                before = self._existing(conn, keys)
                rejected = self._apply(conn, stmt, records, only_existing, before)
                after = self._existing(conn, keys)
        except sa.exc.DBAPIError as exc:
            raise TargetError(f"table {self.cfg.table}: {db_reason(exc)}") from None
        out = []
        for rec in records:
            if rec.key in rejected:
                out.append(Outcome(rec.key, "rejected", reason=rejected[rec.key]))
            else:
                out.append(Outcome(rec.key, "updated" if rec.key in before else "created", after.get(rec.key)))
        return out

    def _apply(self, conn: sa.Connection, stmt, records: list[Record], only_existing: bool,
               before: dict) -> dict[str, str]:
        """Try the chunk in one go; if the database refuses a row, row by row. Returns key -> reason.

        Only what is about a row's values (a constraint: IntegrityError; a value the column cannot hold:
        DataError) rejects that row; anything else (a missing column, a lost connection) stops the run."""
        rejected: dict[str, str] = {}
        if only_existing:
            for rec in records:
                if rec.key not in before:
                    rejected[rec.key] = f"no row with {self.cfg.key_column} = {rec.key!r} (mode update never creates)"
            records = [r for r in records if r.key not in rejected]
        if not records:
            return rejected
        return rejected | self._each_or_refused(conn, stmt, {r.key: self._params(r) for r in records})

    def _each_or_refused(self, conn: sa.Connection, stmt, params: dict[str, dict]) -> dict[str, str]:
        """Execute `stmt` for every key's parameters in one go; if the database refuses a row, row by row
        (each in a savepoint, so the others go through). Returns key -> reason for the refused rows."""
        try:
            with conn.begin_nested():
                self.requests += 1
                conn.execute(stmt, list(params.values()))
            return {}
        except (sa.exc.IntegrityError, sa.exc.DataError):
            pass
        refused: dict[str, str] = {}
        for key, one in params.items():
            try:
                with conn.begin_nested():
                    self.requests += 1
                    conn.execute(stmt, one)
            except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
                refused[key] = db_reason(exc)
        return refused

    def delete(self, records: list[Record]) -> list[Outcome]:
        """DELETE, or UPDATE the `deactivate` columns, of records that left the source. A row the database
        refuses to change (a deactivate value its CHECK forbids) is that record's `rejected` outcome, the
        others go through, as in `write`; a missing row counts as done (the goal is reached)."""
        if not records:
            return []
        t, key = quote(self.cfg.table), quote(self.cfg.key_column)
        if self.cfg.deactivate:
            sets = ", ".join(f"{quote(c)} = :{_p(c)}" for c in self.cfg.deactivate)
            stmt = sa.text(f"UPDATE {t} SET {sets} WHERE {key} = :_key")
        else:
            stmt = sa.text(f"DELETE FROM {t} WHERE {key} = :_key")
        values = {_p(c): v for c, v in (self.cfg.deactivate or {}).items()}
        try:
            with self.engine.begin() as conn:
                rejected = self._each_or_refused(conn, stmt, {r.key: {**values, "_key": r.key} for r in records})
        except sa.exc.DBAPIError as exc:
            raise TargetError(f"table {self.cfg.table}: {db_reason(exc)}") from None
        return [Outcome(r.key, "rejected", reason=rejected[r.key]) if r.key in rejected
                else Outcome(r.key, "deleted", r.target_id) for r in records]

    def finish(self) -> list[Outcome]:
        return []

    def close(self) -> None:
        self.engine.dispose()


def _p(column: str) -> str:
    """A bind parameter name for any column name."""
    return "c_" + "".join(ch if ch.isalnum() else "_" for ch in column)
