"""Who may read what: the PostgreSQL role `analyst`, and database column comments.

Analysts query the core and mart tables. Staging (raw, as received, with hashed or masked personal data
beside fields no model carries), quarantine (rejected rows as they came, possibly with personal data)
and the control tables (runs, watermarks, push state) are for the pipeline and its engineers. So the
build, after every rebuild (a dropped and recreated table loses its grants), grants the role `analyst`
SELECT on exactly the core and mart tables and nothing else; PostgreSQL then refuses any other read.

The role is a group (NOLOGIN) unless ETL_ANALYST_PASSWORD is set, which makes it a login role with that
password (a secret from the environment, never from YAML). DuckDB has no roles: analysts read its
published read-only snapshot instead (etl/models/snapshot.py).

Column comments: the model headers' column meanings become COMMENT ON COLUMN on both warehouses, and the
mapping files' `description`s on the staging tables, so a BI tool shows the same words as
docs/warehouse.md.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.layers import CORE, MARTS, qualified, schema_of
from etl.load.warehouse import existing_columns, quote

ANALYST_ROLE = "analyst"
READABLE = (CORE, MARTS)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ensure_analyst_role(conn: Connection) -> None:
    """Create the role if missing (PostgreSQL only); LOGIN with ETL_ANALYST_PASSWORD when that is set."""
    if conn.dialect.name != "postgresql":
        return
    exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": ANALYST_ROLE}).first()
    if not exists:
        try:
            with conn.begin_nested():
                conn.execute(sa.text(f"CREATE ROLE {ANALYST_ROLE} NOLOGIN"))
        except sa.exc.ProgrammingError:  # created meanwhile by another database's build on the same server
            pass
    password = os.environ.get("ETL_ANALYST_PASSWORD")
    if password:
        conn.execute(sa.text(f"ALTER ROLE {ANALYST_ROLE} LOGIN PASSWORD {_literal(password)}"))


def grant_analyst(conn: Connection, tables: list[str]) -> None:
    """SELECT on `tables` (the core and mart tables just built) and USAGE on their two schemas; nothing
    else. Without USAGE on staging and etl, PostgreSQL refuses `staging.x` and skips those schemas when
    the analyst writes a bare name (the database's search path, etl/layers.py)."""
    if conn.dialect.name != "postgresql":
        return
    ensure_analyst_role(conn)
    for schema in READABLE:
        conn.execute(sa.text(f"GRANT USAGE ON SCHEMA {quote(schema)} TO {ANALYST_ROLE}"))
    for table in tables:
        if schema_of(table) not in READABLE:
            raise ValueError(f"{table} is in schema {schema_of(table)}, which analysts may not read")
        conn.execute(sa.text(f"GRANT SELECT ON {qualified(table)} TO {ANALYST_ROLE}"))


def comment_columns(conn: Connection, table: str, columns: dict[str, str], description: str = "") -> None:
    """COMMENT ON the table and each of its existing columns (DuckDB and PostgreSQL spell it alike)."""
    have = set(existing_columns(conn, table))
    if not have:
        return
    # DuckDB: also on the read-through view in main, which is what a BI tool opening the file lists
    targets = [("TABLE", qualified(table))] + ([("VIEW", f"main.{quote(table)}")] if _has_view(conn, table) else [])
    for kind, name in targets:
        if description:
            conn.execute(sa.text(f"COMMENT ON {kind} {name} IS {_literal(description)}"))
        for column, meaning in columns.items():
            if column in have and meaning:
                conn.execute(sa.text(f"COMMENT ON COLUMN {name}.{quote(column)} IS {_literal(meaning)}"))


def _has_view(conn: Connection, table: str) -> bool:
    if conn.dialect.name != "duckdb":
        return False
    return conn.execute(sa.text("SELECT count(*) FROM duckdb_views() WHERE schema_name = 'main' AND view_name = :t "
                                "AND database_name = current_database()"), {"t": table}).scalar_one() > 0


def comment_staging(conn: Connection) -> None:
    """The mapping files' descriptions on the staging tables they load."""
    from etl.config.loader import load_all

    for cfg in load_all(strict=False).values():
        for entity in cfg.entities.values():
            columns = {name: col.description for name, col in entity.columns.items()
                       if getattr(col, "description", "")}
            comment_columns(conn, entity.target, columns, (entity.description or "").strip())
