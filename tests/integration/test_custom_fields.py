"""CRM custom fields: the report of fields in `extras` no mapping uses (counts, PII-safe samples, the
warehouse view, the `etl fields` command), and a column added to the YAML afterwards filled for the
rows already loaded from their stored extras, without re-reading the source."""

from __future__ import annotations

import json
import re
import shutil

from typer.testing import CliRunner

from etl.cli import app
from etl.load.extras import unmapped_fields
from tests.helpers.pipeline import sync_system
from tests.helpers.warehouse import rows


def test_unmapped_fields_report_then_backfill_from_extras(crm_server, tmp_path, monkeypatch) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree("mappings/crm", mappings / "crm")
    tickets = mappings / "crm" / "tickets.yml"
    lines = [ln for ln in tickets.read_text().splitlines() if "ticket_category" not in ln]
    tickets.write_text("\n".join(lines) + "\n")  # the custom field is not mapped (yet)
    monkeypatch.setenv("ETL_MAPPINGS_DIR", str(mappings))
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    first = sync_system("crm", url, "f1", only=("tickets",))["tickets"]

    report = {f.field: f for f in unmapped_fields(url, "crm") if f.entity == "tickets"}
    category, content = report["properties.ticket_category"], report["properties.content"]
    stored = [json.loads(e) for (e,) in rows(url, "SELECT CAST(extras AS VARCHAR) FROM stg_crm__tickets")]
    with_category = [e["properties.ticket_category"] for e in stored if "properties.ticket_category" in e]
    assert category.rows == len(with_category) > 0 and category.distinct == len(set(with_category))
    assert set(category.samples) <= set(with_category)  # a category: its values are shown
    assert all(re.fullmatch(r"[Xx9 .:()\-…]+", s) for s in content.samples)  # free text: only its shape
    assert "properties.subject" not in report  # mapped fields are not reported
    view = dict(rows(url, "SELECT field, rows FROM etl_unmapped_fields WHERE entity = 'tickets'"))
    assert view["properties.ticket_category"] == category.rows

    out = CliRunner().invoke(app, ["fields", "crm", "--warehouse", url])
    assert out.exit_code == 0 and "properties.ticket_category" in out.stdout
    assert not any(v in out.stdout for v in {e.get("properties.content") for e in stored} - {None})

    text = tickets.read_text().replace("columns:\n", "columns:\n  category: {source: properties.ticket_category, "
                                                   "normalise: [trim, lower]}\n", 1)
    tickets.write_text(text)  # the data engineer maps the field
    second = sync_system("crm", url, "f2", only=("tickets",))["tickets"]
    assert second["extracted"] < first["extracted"]  # an incremental run, not a re-read
    got = dict(rows(url, "SELECT id, category FROM stg_crm__tickets"))
    by_id = {i: json.loads(e).get("properties.ticket_category") for i, e in
             rows(url, "SELECT id, CAST(extras AS VARCHAR) FROM stg_crm__tickets")}
    assert got == {i: (v.strip().lower() if v else None) for i, v in by_id.items()}
    assert sum(v is not None for v in got.values()) == category.rows
    assert "properties.ticket_category" not in {f.field for f in unmapped_fields(url, "crm")}
