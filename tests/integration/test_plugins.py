"""Plug-ins from the example package (examples/etl-example-plugin, installed by `make install`):
found through entry points, listed, validated at config load like built-ins, and a sync that uses all
three (the keyset-paged source, the customer_tier transform, the customer_code_format check)."""

from __future__ import annotations

import textwrap

import pytest

from etl.config.loader import MappingError, load_system
from etl.plugins import list_plugins
from etl.steps import RunContext, run_entity
from tests.helpers.http_server import Reply, Request, serve
from tests.helpers.warehouse import assert_invariant, rows

CUSTOMERS = [{"id": i, "code": f"C-{i:04d}" if i % 50 else f"X{i}", "revenue": i * 9_000,
              "updated": f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}Z"} for i in range(1, 251)]

SYSTEM = "system: legacy\ndefaults:\n  source: {kind: keyset_rest, connection: legacy_api}\n"
ENTITY = """\
primary_key: [id]
source:
  path: /customers
  records_path: items
  page_size: 40
  since_param: updated_since
  cursor_field: updated
columns:
  id: {type: integer}
  code: {}
  revenue: {type: "decimal(18,2)"}
  tier: {derive: {function: customer_tier, args: [revenue], kwargs: {bands: {enterprise: 2000000}}}}
  updated: {type: timestamp}
quality:
  share_min_rows: 1000
  checks:
    - {check: customer_code_format, kwargs: {column: code, prefix: C-}, description: code must start with C-}
"""


def _app(req: Request) -> Reply:
    if req.headers.get("Authorization") != "Bearer t0k":
        return Reply(401, {"error": "no"})
    since, after, limit = req.query.get("updated_since", ""), int(req.query.get("after_id", 0)), int(req.query["limit"])
    picked = [c for c in CUSTOMERS if c["updated"] >= since and c["id"] > after][:limit]
    return Reply(200, {"items": picked})


def _write(tmp_path, entity: str = ENTITY):
    folder = tmp_path / "legacy"
    folder.mkdir(exist_ok=True)
    (tmp_path / "stg_legacy__customers.json").write_text(
        '{"name": "stg_legacy__customers", "expectations": '
        '[{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]}')
    (folder / "_system.yml").write_text(SYSTEM)
    (folder / "customers.yml").write_text(entity)
    return folder


def test_the_example_plugins_are_listed() -> None:
    found = {(p.kind, p.name): p for p in list_plugins()}
    example = {("sources", "keyset_rest"), ("transforms", "customer_tier"), ("checks", "customer_code_format")}
    assert example <= set(found)
    assert found["sources", "keyset_rest"].package == "etl-example-plugin"


def test_the_example_plugin_syncs(tmp_path, monkeypatch) -> None:
    entity = load_system(_write(tmp_path)).entities["customers"]
    monkeypatch.setenv("ETL_EXPECTATIONS_DIR", str(tmp_path))
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    with serve(_app) as srv:
        monkeypatch.setenv("AIRFLOW_CONN_LEGACY_API", f"http://:t0k@{srv.url.removeprefix('http://')}")
        first = run_entity(entity, RunContext(run_id="p1", warehouse_url=url))
        CUSTOMERS[9]["updated"], CUSTOMERS[9]["revenue"] = "2025-02-01T00:00:00Z", 5_000_000
        second = run_entity(entity, RunContext(run_id="p2", warehouse_url=url))
        pages = [r for r in srv.requests if r.path == "/customers"]
    bad = [c for c in CUSTOMERS if not c["code"].startswith("C-")]
    assert_invariant(first)
    assert first["extracted"] == 250 and first["quarantined"] == len(bad) == 5
    assert [r.query.get("after_id") for r in pages[:3]] == [None, "40", "80"]  # keyset paging
    # from the watermark the plug-in's cursor set: the changed record and the one at the watermark (>=)
    assert second["extracted"] == 2 and second["updated"] == 1 and second["inserted"] == 0
    assert_invariant(second)
    tiers = dict(rows(url, "SELECT id, tier FROM stg_legacy__customers"))
    expected = {c["id"]: "enterprise" if c["revenue"] >= 2_000_000 else "mid_market" if c["revenue"] >= 100_000
                else "smb" for c in CUSTOMERS if c["code"].startswith("C-")}
    assert tiers == expected and tiers[10] == "enterprise"
    rules = set(rows(url, "SELECT failed_rule, reason FROM etl_quarantine"))
    assert rules == {("plugin:customer_code_format", "code must start with C-")}


@pytest.mark.parametrize(("old", "new", "message"), [
    ("kind: keyset_rest", "kind: keyset_rst", r"unknown source kind 'keyset_rst'; built-in: rest, sql, files; "
                                              r".*installed sources plug-ins: keyset_rest"),
    ("  page_size: 40", "  page_sise: 40", r"source: .*keyset_rest.*page_sise: unknown setting"),
    ("function: customer_tier", "function: customer_teir", r"derive function 'customer_teir' is not registered"),
    ("kwargs: {bands:", "kwargs: {band:", r"derive function 'customer_tier': got an unexpected keyword argument"),
    ("check: customer_code_format", "check: code_format", r"no check plug-in named 'code_format'"),
])
def test_plugin_settings_are_validated_at_load(tmp_path, old: str, new: str, message: str) -> None:
    folder = _write(tmp_path, ENTITY.replace(old, new))
    if old.startswith("kind"):
        (folder / "_system.yml").write_text(SYSTEM.replace(old, new))
    with pytest.raises(MappingError, match=message) as err:
        load_system(folder)
    assert "customers.yml" in str(err.value) or "_system.yml" in str(err.value)


def test_plugin_docs_page_exists() -> None:
    text = open("docs/plugins.md", encoding="utf-8").read()
    for needed in ("etl.sources", "etl.transforms", "etl.checks", "etl.targets", "SourcePlugin", "etl plugins"):
        assert needed in text, needed
    assert textwrap.dedent(text)


def test_a_target_plugin_is_validated_and_opened_like_a_builtin(tmp_path) -> None:
    from pydantic import TypeAdapter, ValidationError

    from etl.config.outbound import PluginTarget, Target
    from etl.plugins import target_plugin
    from etl.targets.base import Record

    adapter = TypeAdapter(Target)
    cfg = adapter.validate_python({"kind": "jsonl_outbox", "folder": str(tmp_path)})
    assert isinstance(cfg, PluginTarget)
    with pytest.raises(ValidationError, match="folder: Field required"):
        adapter.validate_python({"kind": "jsonl_outbox", "fodler": str(tmp_path)})
    with pytest.raises(ValidationError, match="unknown target kind 'jsonl_outbx'.*installed targets plug-ins"):
        adapter.validate_python({"kind": "jsonl_outbx"})
    target = target_plugin(cfg.kind)().open(cfg.settings, None, "r1")
    outcomes = target.write([Record("k1", {"name": "A"}, "create"), Record("k2", {"name": "B"}, "update")], False)
    assert [(o.key, o.status) for o in outcomes] == [("k1", "created"), ("k2", "updated")]
    assert len((tmp_path / "sync.jsonl").read_text().splitlines()) == 2
