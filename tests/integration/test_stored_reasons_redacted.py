"""Every message the product stores goes through `etl.redact` (issue 9, defect 5): failed sync and push
runs, push rejects and their state, quarantine reasons. A target or a source that echoes a token in its
answer cannot put it in a table. On DuckDB and PostgreSQL."""

from __future__ import annotations

import pyarrow as pa
import pytest

from etl import state
from etl.config.schema import Entity
from etl.load import audit, push_audit
from etl.load.warehouse import transaction
from etl.quality import quarantine
from etl.redact import register
from tests.helpers.warehouse import rows

TOKEN = "echoed-Token-88123-kk"
SAID = f"target said: 401 invalid token {TOKEN} (Authorization: Bearer {TOKEN}); url https://h/x?api_key={TOKEN}"


@pytest.fixture(params=["duckdb", "postgresql"])
def url(request, tmp_path):
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'w.duckdb'}"
    from tests.conftest import pg_sibling_database

    return pg_sibling_database(request.getfixturevalue("pg_url"), "reasons")


def test_stored_messages_never_hold_a_known_secret(url) -> None:
    register(TOKEN)
    entity = Entity(system="s", entity="e", primary_key=["id"], columns={"id": {}},
                    source={"kind": "rest", "connection": "c", "path": "/x"})
    audit.mark_failed("r1", "s_sync", "e", f"extract failed: HttpError: {SAID}", url)
    with transaction(url) as conn:
        push_audit.ensure_push_tables(conn)
        push_audit.start_run(conn, "r1", "push_x", "t", "upsert", False)
        push_audit.finish_run(conn, "r1", "push_x", "failed", 1, 0.1, f"RuntimeError: {SAID}")
        push_audit.reject(conn, "r1", "push_x", [("k1", SAID, "{}")])
        state.refuse_pushed(conn, "push_x", [("k1", 1, SAID)])
        audit.ensure_control_tables(conn)
        part = pa.table({"primary_key": ["1"], "failed_rule": ["plugin:x"], "reason": [SAID], "record": ["{}"]})
        quarantine.store(conn, entity, "r1", [part], audit.now_utc())
    stored = [
        *rows(url, "SELECT error FROM etl_runs"), *rows(url, "SELECT error FROM etl_push_runs"),
        *rows(url, "SELECT reason FROM etl_push_rejects"), *rows(url, "SELECT rejected_reason FROM etl_push_state"),
        *rows(url, "SELECT reason FROM etl_quarantine"),
    ]
    assert len(stored) == 5
    for (text,) in stored:
        assert TOKEN not in text and "***" in text and "401 invalid token" in text, text


def test_database_errors_never_quote_the_rows(url) -> None:
    """SQLAlchemy appends a failing statement's parameters (a row's personal values) to its error text;
    every engine the product makes hides them."""
    import sqlalchemy as sa

    from etl.load.warehouse import engine_for

    with engine_for(url).begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS t_pk"))
        conn.execute(sa.text("CREATE TABLE t_pk (id INTEGER PRIMARY KEY, email TEXT)"))
        conn.execute(sa.text("INSERT INTO t_pk VALUES (1, 'a@example.com')"))
    with pytest.raises(sa.exc.DBAPIError) as err, engine_for(url).begin() as conn:
        conn.execute(sa.text("INSERT INTO t_pk VALUES (:i, :e)"), {"i": 1, "e": "private.person@example.com"})
    assert "private.person@example.com" not in str(err.value)
