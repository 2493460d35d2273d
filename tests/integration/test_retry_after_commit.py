"""A task retried after its load committed (the worker died after the commit, Airflow retried it) sees
the commit and leaves the audit row true: no second read, no `inserted 0`, no `failed` with an
InvariantError claiming nothing was committed. For every step, in any task shape, on both warehouses."""

from __future__ import annotations

from etl import steps
from etl.config.loader import load_system, mappings_dir
from etl.load import audit
from tests.helpers.warehouse import assert_invariant, rows, runs


def test_every_step_retried_after_the_commit_leaves_the_audit_row_true(crm_server, warehouse):
    entity = load_system(mappings_dir() / "crm").entities["contacts"]
    ctx = steps.RunContext(run_id="retry-1", warehouse_url=warehouse)
    ex = steps.extract(entity, ctx)
    tr = steps.transform(entity, ctx)
    va = steps.validate(entity, ctx, ex)
    first = steps.load(entity, ctx, ex, tr, va)
    audited = runs(warehouse, "retry-1")["contacts"]
    assert audited["status"] == "success" and audited["inserted"] == first["inserted"] > 0
    table = rows(warehouse, f"SELECT count(*) FROM {entity.target}")

    # the load task retried with the results it was handed (its files are gone)
    again = steps.load(entity, ctx, ex, tr, va)
    assert (again["inserted"], again["extracted"]) == (first["inserted"], first["extracted"])
    # the whole chain retried (one task per entity): every step sees the commit
    whole = steps.run_entity(entity, ctx)
    assert whole["inserted"] == first["inserted"] and whole["extracted"] == first["extracted"]
    assert runs(warehouse, "retry-1")["contacts"] == audited
    assert_invariant(audited)
    assert rows(warehouse, f"SELECT count(*) FROM {entity.target}") == table

    # a failure reported after the commit (e.g. by a callback) does not rewrite it either
    audit.mark_failed("retry-1", entity.pipeline, "contacts", "InvariantError: nothing was committed", warehouse)
    assert runs(warehouse, "retry-1")["contacts"]["status"] == "success"
