"""Where every warehouse table lives: one schema per layer, on DuckDB and PostgreSQL alike.

    staging  stg_<system>__<entity>, and any other table a mapping loads (as received, typed)
    core     dim_*, fct_*, hist_* (SCD2 history), crm_* (the conformed CRM model), xwalk_* (crosswalks)
    marts    mart_*, what analysts query
    etl      etl_* control tables (runs, quarantine, watermarks, file ledger, push state and audit,
             the etl_unmapped_fields view) and model_* (the parameters a build ran with)

`schema_of` is the one place a table name is mapped to its schema; every module that creates a table
creates it as `qualified(name)`, and reads and writes use the bare name, which resolves through the
search path. Readers keep querying bare names (`SELECT * FROM etl_runs`), however they connect:

- PostgreSQL: the pipeline sets the search path on each of its connections, and the database's
  default search path (ALTER DATABASE ... SET search_path) names the four schemas, so a fresh psql, a BI
  tool or the `analyst` role resolves bare names too. PostgreSQL skips a schema the role may not use,
  so `analyst` (USAGE on core and marts only) cannot even see the staging and etl names.
- DuckDB keeps no search path in the file: every table also has a read-through view of the same name in
  `main` (`main.etl_runs` = `SELECT * FROM etl.etl_runs`), which a fresh `duckdb.connect(file)` finds.
  The pipeline's own connections search the layer schemas before `main`, so its writes reach the tables.

A warehouse written before the layers had its tables in `main` / `public`: `prepare` moves them once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

STAGING, CORE, MARTS, CONTROL = "staging", "core", "marts", "etl"
SCHEMAS = (STAGING, CORE, MARTS, CONTROL)
# name prefix -> schema; a name matching none is a table a mapping loads, so staging (never analysts')
PREFIXES = {"stg_": STAGING, "dim_": CORE, "fct_": CORE, "hist_": CORE, "crm_": CORE, "xwalk_": CORE,
            "mart_": MARTS, "etl_": CONTROL, "model_": CONTROL}
# where bare names resolve (DuckDB: before the read-through views in main); staging first, so a table
# created without `qualified` lands where analysts cannot read it
SEARCH_PATH = (STAGING, CORE, MARTS, CONTROL)
DEFAULT_SCHEMA = {"duckdb": "main", "postgresql": "public"}


def schema_of(table: str) -> str:
    """The schema a table (or view) of the warehouse lives in, from its name."""
    for prefix, schema in PREFIXES.items():
        if table.startswith(prefix):
            return schema
    return STAGING


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified(table: str) -> str:
    """`"schema"."table"`, for the statements that create or drop a table."""
    return f"{_quote(schema_of(table))}.{_quote(table)}"


def search_path(dialect: str) -> str:
    """The search path of the pipeline's connections (PostgreSQL keeps `public` for its extensions)."""
    return ", ".join([*SEARCH_PATH, DEFAULT_SCHEMA[dialect]])


def connection_setup(dialect: str) -> list[str]:
    """Statements every new pipeline connection runs: the schemas (DuckDB refuses a search path naming a
    missing one; IF NOT EXISTS makes this a catalog lookup after the first time), then the search path."""
    create = [f"CREATE SCHEMA IF NOT EXISTS {s}" for s in SCHEMAS]
    if dialect == "duckdb":
        return [*create, f"SET search_path = '{search_path(dialect).replace(' ', '')}'"]
    return [*create, f"SET search_path TO {search_path(dialect)}"]


def expose(conn, table: str, replace: bool = True) -> None:
    """DuckDB: the read-through view `main.<table>` that lets a fresh connection use the bare name.

    Replaced after a table is (re)created or altered, so the view lists the table's current columns
    (BI tools read a view's columns from the catalog); PostgreSQL needs none (its search path)."""
    if conn.dialect.name != "duckdb":
        return
    import sqlalchemy as sa

    create = "CREATE OR REPLACE VIEW" if replace else "CREATE VIEW IF NOT EXISTS"
    conn.execute(sa.text(f"{create} main.{_quote(table)} AS SELECT * FROM {qualified(table)}"))


def prepare(conn, mapping_targets: Callable[[], set[str]] = set) -> None:
    """Once per process and warehouse: PostgreSQL's database search path, and tables left in the
    default schema by an older version moved to their layer. `mapping_targets` names the tables the
    mappings load (asked only when PostgreSQL's `public` holds a table of no known prefix: `public` may
    hold tables that are not the product's, which stay; a DuckDB warehouse file is all the product's)."""
    dialect = conn.dialect.name  # the schemas themselves: made by every new connection (connection_setup)
    if dialect == "postgresql":
        _database_search_path(conn)
    _move_legacy_tables(conn, dialect, mapping_targets)


def _database_search_path(conn) -> None:
    """ALTER DATABASE ... SET search_path, so any new session (psql, BI tools, analyst) finds bare names."""
    import sqlalchemy as sa

    database = conn.execute(sa.text("SELECT current_database()")).scalar_one()
    wanted = search_path("postgresql")
    settings = conn.execute(sa.text(
        "SELECT unnest(setconfig) FROM pg_db_role_setting s JOIN pg_database d "
        "ON d.oid = s.setdatabase WHERE d.datname = :d AND s.setrole = 0"), {"d": database}).scalars()
    if f"search_path={wanted}".replace(" ", "") in {str(v).replace(" ", "") for v in settings}:
        return
    try:
        with conn.begin_nested():
            conn.execute(sa.text(f"ALTER DATABASE {_quote(database)} SET search_path TO {wanted}"))
    except sa.exc.DBAPIError as exc:  # not the database's owner: readers must set it themselves
        log.warning("could not set the search path of database %s (%s); readers must qualify names with "
                    "their schema (staging, core, marts, etl) or SET search_path TO %s",
                    database, type(exc.orig).__name__, wanted)


def _move_legacy_tables(conn, dialect: str, mapping_targets: Callable[[], set[str]]) -> None:
    import sqlalchemy as sa

    default = DEFAULT_SCHEMA[dialect]
    found = conn.execute(sa.text(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = :s "
        "AND table_catalog = current_database()"), {"s": default}).all()
    targets: set[str] | None = None
    for name, kind in found:
        if name.startswith("_"):
            continue
        if dialect == "postgresql" and not name.startswith(tuple(PREFIXES)):
            targets = mapping_targets() if targets is None else targets
            if name not in targets:
                continue
        if kind == "VIEW" and dialect == "duckdb":  # read-through views, or etl_unmapped_fields (replaced
            continue                                 # by its read-through view when next refreshed)
        log.info("moving %s.%s to schema %s (warehouse layers)", default, name, schema_of(name))
        if dialect == "postgresql":
            conn.execute(sa.text(f"ALTER TABLE {default}.{_quote(name)} SET SCHEMA {schema_of(name)}"))
            continue
        _move_duckdb_table(conn, name)


def _move_duckdb_table(conn, name: str) -> None:
    """DuckDB has no ALTER TABLE ... SET SCHEMA: recreate with the same DDL (keys kept), copy, drop."""
    import sqlalchemy as sa

    ddl = conn.execute(sa.text("SELECT sql FROM duckdb_tables() WHERE schema_name = 'main' AND "
                               "table_name = :t AND database_name = current_database()"), {"t": name}).scalar_one()
    body = ddl[ddl.index("("):].rstrip().rstrip(";")
    conn.execute(sa.text(f"CREATE TABLE {qualified(name)}{body}"))
    conn.execute(sa.text(f"INSERT INTO {qualified(name)} SELECT * FROM main.{_quote(name)}"))
    conn.execute(sa.text(f"DROP TABLE main.{_quote(name)}"))
    expose(conn, name)
