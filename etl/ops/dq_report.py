"""The data-quality report of one run: an HTML page per `<pipeline>` run with, per table, its
expectations and how many rows passed or failed each, the built-in checks (cast, key, conversion), the
run's counts, and a few quarantined rows as samples.

Samples never show personal data: the values of every column the mapping marks `pii: hash|mask|drop`
are masked in the record and in the reason text. The page is generated from the warehouse's own
audit and quarantine tables after the run, so it says exactly what was committed. It is written to
`ETL_REPORTS_DIR` (default `<ETL_DATA_DIR>/reports`), served by the Airflow UI at `/etl-reports/`
(see `etl.orchestration.plugin`) and linked from the DAG run's note.
"""

from __future__ import annotations

import json
import os
import re
from html import escape
from pathlib import Path

import sqlalchemy as sa

from etl.config.schema import Entity
from etl.load.warehouse import engine_for, has_table, warehouse_url
from etl.ops.runs import RunRow, run_rows

SAMPLES_PER_RULE = 3
MASK = "•••"
BUILT_IN = {"cast": "every value casts to its declared type", "primary_key_not_null": "the primary key is present",
            "conversion": "a rate / unit factor exists for the conversion"}
URL_PREFIX = "/etl-reports"


def reports_dir() -> Path:
    from etl.runfiles import data_dir

    return Path(os.environ.get("ETL_REPORTS_DIR", data_dir() / "reports"))


def report_path(pipeline: str, run_id: str) -> Path:
    return reports_dir() / pipeline / (re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id) + ".html")


def report_url(path: Path) -> str:
    """Where the Airflow UI serves the file (the plugin mounts reports_dir() at URL_PREFIX)."""
    return f"{URL_PREFIX}/{path.relative_to(reports_dir()).as_posix()}"


def _quarantine(conn, run_id: str, pipeline: str) -> dict[str, list[tuple]]:
    if not has_table(conn, "etl_quarantine"):
        return {}
    out: dict[str, list[tuple]] = {}
    rows = conn.execute(sa.text("SELECT entity, primary_key, failed_rule, reason, record FROM etl_quarantine "
                                "WHERE run_id = :r AND pipeline = :p ORDER BY entity, primary_key"),
                        {"r": run_id, "p": pipeline})
    for entity, *rest in rows:
        out.setdefault(entity, []).append(tuple(rest))
    return out


def _pii_paths(entity: Entity) -> set[str]:
    return {(c.source or name) for name, c in entity.columns.items() if c.pii != "keep"}


def masked(record, reason: str | None, entity: Entity | None) -> tuple[str, str]:
    """The record and the reason of a quarantined row with personal values replaced by •••."""
    data = json.loads(record) if isinstance(record, str | bytes) else dict(record or {})
    reason = reason or ""
    for path in _pii_paths(entity) if entity else set():
        value = data.get(path)
        if value not in (None, ""):
            reason = reason.replace(str(value), MASK)
            data[path] = MASK
    return json.dumps(data, ensure_ascii=False, default=str), reason


def _rules(failed_rule: str | None) -> list[str]:
    return [r.strip() for r in (failed_rule or "").split(";") if r.strip()]


def _expectation_rows(entity: Entity | None, run: RunRow | None, quarantined: list[tuple]) -> list[tuple]:
    """(rule, why, checked, failed) per built-in check and per suite expectation."""
    from etl.quality.suites import SuiteError, load_suite, rule_label, suite_path

    failures: dict[str, int] = {}
    for _, failed_rule, _, _ in quarantined:
        for rule in _rules(failed_rule):
            failures[rule] = failures.get(rule, 0) + 1
    extracted = run.extracted or 0 if run else 0
    checked = extracted - (run.filtered or 0 if run else 0)
    out = [(rule, why, checked, failures.get(rule, 0)) for rule, why in BUILT_IN.items()]
    if entity is None:
        return out
    after_built_in = checked - sum(failures.get(r, 0) for r in BUILT_IN)
    try:
        suite = load_suite(suite_path(entity.quality.suite or entity.target))
    except SuiteError as exc:
        return [*out, ("suite", str(exc), 0, 0)]
    for expectation in suite["expectations"]:
        label = rule_label(expectation)
        why = expectation.get("meta", {}).get("why", "")
        out.append((label, why, after_built_in, failures.get(label, 0)))
    return out


CSS = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}td.n{text-align:right}
.fail{color:#b00;font-weight:bold}.ok{color:#070}code{font-size:12px;word-break:break-all}"""


def render(pipeline: str, run_id: str, entities: dict[str, Entity], runs: list[RunRow],
           quarantine: dict[str, list[tuple]], broken: dict[str, str] | None = None) -> str:
    by_entity = {r.entity: r for r in runs}
    names = sorted(set(entities) | set(by_entity) | set(broken or {}))
    parts = [f"<!doctype html><meta charset=utf-8><title>{escape(pipeline)} {escape(run_id)} data quality</title>",
             f"<style>{CSS}</style><h1>Data quality: {escape(pipeline)}</h1><p>run <code>{escape(run_id)}</code></p>",
             "<table><tr><th>entity</th><th>status</th><th>extracted</th><th>filtered</th><th>quarantined</th>"
             "<th>inserted</th><th>updated</th><th>unchanged</th></tr>"]
    for name in names:
        run = by_entity.get(name)
        status = run.status if run else ("config error" if name in (broken or {}) else "not run")
        cls = "ok" if status == "success" else "fail"
        values = list(run.counts().values()) if run else [None] * 6
        cells = "".join(f"<td class=n>{'' if v is None else v}</td>" for v in values)
        link = f"<a href='#{escape(name)}'>{escape(name)}</a>"
        parts.append(f"<tr><td>{link}</td><td class={cls}>{status}</td>{cells}</tr>")
    parts.append("</table>")
    for name in names:
        parts += _entity_section(name, entities.get(name), by_entity.get(name), quarantine.get(name, []),
                                 (broken or {}).get(name))
    return "\n".join(parts)


def _entity_section(name: str, entity: Entity | None, run: RunRow | None, quarantined: list[tuple],
                    broken: str | None) -> list[str]:
    title = entity.target if entity else name
    out = [f"<h2 id='{escape(name)}'>{escape(name)} <small>→ {escape(title)}</small></h2>"]
    if broken:
        return [*out, f"<p class=fail>mapping has errors:</p><pre>{escape(broken)}</pre>"]
    if run and run.status != "success":
        out.append(f"<p class=fail>{escape(run.status)}: {escape(run.error or '')}</p>")
    out.append("<table><tr><th>check</th><th>why</th><th>rows checked</th><th>passed</th><th>failed</th></tr>")
    for rule, why, checked, failed in _expectation_rows(entity, run, quarantined):
        cls = "fail" if failed else "ok"
        out.append(f"<tr><td><code>{escape(rule)}</code></td><td>{escape(why)}</td><td class=n>{checked}</td>"
                   f"<td class=n>{max(checked - failed, 0)}</td><td class='n {cls}'>{failed}</td></tr>")
    out.append("</table>")
    if quarantined:
        out.append(f"<p>{len(quarantined)} rows quarantined; samples (personal data masked):</p>"
                   "<table><tr><th>key</th><th>rule</th><th>reason</th><th>record</th></tr>")
        shown: dict[str, int] = {}
        for key, rule, reason, record in quarantined:
            if shown.get(rule or "", 0) >= SAMPLES_PER_RULE:
                continue
            shown[rule or ""] = shown.get(rule or "", 0) + 1
            text, why = masked(record, reason, entity)
            out.append(f"<tr><td>{escape(str(key))}</td><td><code>{escape(rule or '')}</code></td>"
                       f"<td>{escape(why)}</td><td><code>{escape(text[:600])}</code></td></tr>")
        out.append("</table>")
    return out


def write_report(pipeline: str, run_id: str, entities: dict[str, Entity], broken: dict[str, str] | None = None,
                 url: str | None = None) -> Path:
    """Render the run's report from the warehouse and write it; return the file."""
    url = url or warehouse_url()
    runs = run_rows(run_id, pipeline, url)
    with engine_for(url).connect() as conn:
        quarantine = _quarantine(conn, run_id, pipeline)
    path = report_path(pipeline, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(pipeline, run_id, entities, runs, quarantine, broken), encoding="utf-8")
    return path
