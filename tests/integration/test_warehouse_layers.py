"""A warehouse written before the layers existed (every table in main / public) is moved to the layer
schemas the first time the pipeline opens it: rows, primary keys and bare-name reads survive."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from etl.load.warehouse import transaction
from tests.conftest import pg_sibling_database
from tests.helpers.warehouse import rows

OLD_TABLES = {  # name -> (DDL as an older version made it, rows)
    "stg_crm__deals": ("(id VARCHAR PRIMARY KEY, amount DOUBLE PRECISION)", "('d1', 10.0), ('d2', 20.0)"),
    "etl_runs": ("(run_id VARCHAR, pipeline VARCHAR, entity VARCHAR, status VARCHAR, "
                 "PRIMARY KEY (run_id, pipeline, entity))", "('r1', 'crm', 'deals', 'success')"),
    "mart_sales": ("(month VARCHAR, revenue_usd DOUBLE PRECISION)", "('2024-01', 5.5)"),
    "fct_deals": ("(deal_id VARCHAR)", "('d1')"),
    "unprefixed": ("(x VARCHAR)", "('a')"),  # DuckDB: a mapping's target; PostgreSQL: not the product's
}
WHERE = {"stg_crm__deals": "staging", "etl_runs": "etl", "mart_sales": "marts", "fct_deals": "core"}


def _old_warehouse(url: str, default: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)  # a bare engine: no layers, as before
    with engine.begin() as conn:
        for name, (ddl, values) in OLD_TABLES.items():
            conn.execute(sa.text(f"CREATE TABLE {default}.{name} {ddl}"))
            conn.execute(sa.text(f"INSERT INTO {default}.{name} VALUES {values}"))
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_tables_of_an_older_version_move_to_their_layer(warehouse, tmp_path, pg_url):
    url = f"duckdb:///{tmp_path / 'old.duckdb'}" if warehouse == "duckdb" else pg_sibling_database(pg_url, "layers")
    default = "main" if warehouse == "duckdb" else "public"
    _old_warehouse(url, default)
    with transaction(url) as conn:  # the first pipeline connection moves them
        conn.execute(sa.text("INSERT INTO etl_runs VALUES ('r2', 'crm', 'deals', 'success')"))
    placed = dict((n, s) for s, n in rows(url, "SELECT table_schema, table_name FROM information_schema.tables "
                                               "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
                                               "('pg_catalog', 'information_schema')"))
    assert placed == {**WHERE, "unprefixed": "staging" if warehouse == "duckdb" else "public"}
    assert rows(url, "SELECT x FROM unprefixed") == [("a",)]
    assert rows(url, "SELECT id, amount FROM stg_crm__deals ORDER BY id") == [("d1", 10.0), ("d2", 20.0)]
    assert rows(url, "SELECT run_id FROM etl_runs ORDER BY run_id") == [("r1",), ("r2",)]
    assert rows(url, "SELECT revenue_usd FROM marts.mart_sales") == [(5.5,)]
    with transaction(url) as conn, pytest.raises(sa.exc.IntegrityError):  # the primary key came along
        conn.execute(sa.text("INSERT INTO stg_crm__deals VALUES ('d1', 1.0)"))
