"""Read back what a run left in a warehouse, the same way for DuckDB and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

QUARANTINE_KINDS = {"malformed_email", "malformed_phone", "unknown_stage", "negative_amount"}


def rows(url: str, sql: str, **params) -> list[tuple]:
    from etl.load.warehouse import with_driver

    engine = sa.create_engine(with_driver(url), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def runs(url: str, run_id: str) -> dict[str, dict]:
    cols = "entity, status, extracted, filtered, quarantined, inserted, updated, unchanged, watermark_to, error"
    out = {}
    for r in rows(url, f"SELECT {cols} FROM etl_runs WHERE run_id = :r", r=run_id):
        out[r[0]] = dict(zip(cols.split(", "), r, strict=True))
    return out


def quarantined_ids(url: str, run_id: str) -> set[tuple[str, str]]:
    return set(rows(url, "SELECT entity, primary_key FROM etl_quarantine WHERE run_id = :r", r=run_id))


def expected_quarantine(dirty: dict) -> set[tuple[str, str]]:
    """Records the demo planted dirt in that the suites must refuse (archived ones are filtered first)."""
    out = set()
    for entity, items in dirty.items():
        archived = {i["id"] for i in items if i["kind"] == "archived"}
        out |= {(entity, i["id"]) for i in items if i["kind"] in QUARANTINE_KINDS and i["id"] not in archived}
    return out


def assert_invariant(run: dict) -> None:
    accounted = sum(run[k] for k in ("filtered", "quarantined", "inserted", "updated", "unchanged"))
    assert run["extracted"] == accounted, run


def table_snapshot(url: str, table: str, skip_columns: tuple[str, ...] = ("_loaded_at", "extras")) -> list[tuple]:
    """Every row as strings, sorted, without `skip_columns` (run-specific ones, when two runs are compared)."""
    from etl.layers import schema_of

    data = rows(url, f'SELECT * FROM "{table}"')
    names = [r[0] for r in rows(url, "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                                      "AND table_schema = :s ORDER BY ordinal_position", t=table, s=schema_of(table))]
    skip = {names.index(c) for c in skip_columns if c in names}
    return sorted(tuple(str(v) for i, v in enumerate(r) if i not in skip) for r in data)
