"""The `summary` task at the end of every `<system>_sync` run: the data-quality report, and the run's
counts as a short Markdown table, left as XCom `run_note` for the plugin to put in the run's note.

It runs as a teardown (after every entity, whatever happened to them) and does not decide the run's
state: the entities' own tasks do. Entities without an audit row are named with the reason: a
mapping with errors, or not run because a task they depend on failed.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def summarize(system: str, run_id: str, url: str | None = None) -> dict:
    from etl.config.loader import MappingError, load_system, mappings_dir
    from etl.ops.dq_report import report_url, write_report
    from etl.ops.runs import run_rows, summary_markdown

    pipeline = f"{system}_sync"
    try:
        cfg = load_system(mappings_dir() / system, strict=False)
        entities, broken = dict(cfg.entities), dict(cfg.broken)
    except MappingError as exc:
        entities, broken = {}, {"_system": str(exc)}
    path = write_report(pipeline, run_id, entities, broken, url)
    link = report_url(path)
    log.info("data-quality report: %s (in the Airflow UI: %s)", path, link)
    rows = run_rows(run_id, pipeline, url)
    missing = {name: f"mapping has errors: {error}" for name, error in broken.items()}
    missing.update({name: "not run: a task it depends on failed, or the run was stopped"
                    for name in entities if name not in {r.entity for r in rows}})
    note = summary_markdown(rows, link, missing=missing)
    log.info("run summary:\n%s", note)
    failed = sorted({r.entity for r in rows if r.status != "success"} | set(missing))
    return {"note": note, "report": str(path), "report_url": link, "failed": failed}
