"""The run note's Markdown, the masking of quarantine samples, and the report pages the UI serves."""

from __future__ import annotations

from etl.ops.runs import RunRow, summary_markdown


def _row(entity: str, status: str = "success", error: str | None = None, n: int = 1200) -> RunRow:
    return RunRow("r1", "crm_sync", entity, status, None, None, "2026-01-01T00:00:00.000Z" if status == "success"
                  else None, n, 0, 0, n, 0, 0, 1.0, error)


def test_note_counts_failures_and_missing_entities_in_one_line_each():
    error = "extract failed: HttpError: GET /crm/v3/objects/deals -> HTTP 401 | token refused\nsecond line"
    note = summary_markdown([_row("contacts"), _row("deals", "failed", error)], "/etl-reports/crm_sync/r1.html",
                            missing={"owners": "mapping has errors: owners.yml:3: primary_kee: unknown setting"})
    lines = note.splitlines()
    assert lines[0] == "**1/3 entities ok** · [data-quality report](/etl-reports/crm_sync/r1.html)"
    assert "| contacts | 1,200 | 0 | 0 | 1,200 | 0 | 0 | 2026-01-01T00:00:00.000Z |" in lines
    assert "**deals failed:** extract failed: HttpError: GET /crm/v3/objects/deals -> HTTP 401 / token refused" \
        in lines
    assert "**owners failed:** mapping has errors: owners.yml:3: primary_kee: unknown setting" in lines
    assert "second line" not in note


def test_samples_mask_personal_values_in_record_and_reason():
    from etl.config.schema import Entity
    from etl.ops.dq_report import masked

    entity = Entity.model_validate({
        "system": "crm", "entity": "contacts", "primary_key": ["id"],
        "source": {"kind": "rest", "connection": "c", "path": "/x"},
        "columns": {"id": {}, "email": {"source": "properties.email", "pii": "hash"}, "city": {}}})
    record, reason = masked('{"id": "7", "properties.email": "ann@example", "city": "Oslo"}',
                            "email 'ann@example' does not match the pattern", entity)
    assert record == '{"id": "7", "properties.email": "•••", "city": "Oslo"}'
    assert reason == "email '•••' does not match the pattern"


def test_the_report_app_serves_reports_and_nothing_else(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from etl.orchestration.plugin import reports_app

    monkeypatch.setenv("ETL_REPORTS_DIR", str(tmp_path / "reports"))
    (tmp_path / "reports" / "crm_sync").mkdir(parents=True)
    (tmp_path / "reports" / "crm_sync" / "r1.html").write_text("<h1>ok</h1>")
    (tmp_path / "secret.html").write_text("no")
    client = TestClient(reports_app())
    assert "crm_sync · r1" in client.get("/").text
    assert client.get("/crm_sync/r1.html").text == "<h1>ok</h1>"
    assert client.get("/crm_sync/..%2F..%2Fsecret.html").status_code == 404
    assert client.get("/..%2F/secret.html").status_code == 404
