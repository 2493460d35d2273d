"""Read the audit tables back for people: recent runs, one run's per-entity counts as a short Markdown
table (the DAG run's note in the UI) and as an asset event's `extra`.

The counts are the ones the load committed in `etl_runs`, never recomputed, so the UI, the CLI and the
warehouse can never disagree about a run.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from etl.load.audit import COUNTS
from etl.load.warehouse import engine_for, has_table, warehouse_url

RUN_COLUMNS = ("run_id", "pipeline", "entity", "status", "started_at", "finished_at", "watermark_to",
               *COUNTS, "seconds", "error")
SHORT = {"extracted": "extr", "filtered": "filt", "quarantined": "quar", "inserted": "ins",
         "updated": "upd", "unchanged": "same"}


@dataclass(frozen=True)
class RunRow:
    run_id: str
    pipeline: str
    entity: str
    status: str
    started_at: object
    finished_at: object
    watermark_to: str | None
    extracted: int | None
    filtered: int | None
    quarantined: int | None
    inserted: int | None
    updated: int | None
    unchanged: int | None
    seconds: float | None
    error: str | None

    def counts(self) -> dict[str, int | None]:
        return {c: getattr(self, c) for c in COUNTS}


def _has_table(conn, name: str) -> bool:
    return has_table(conn, name)


def recent_runs(url: str | None = None, limit: int = 20, pipeline: str | None = None,
                status: str | None = None) -> list[RunRow]:
    """The newest `limit` audit rows, newest first (an empty list when nothing ever ran)."""
    where: list[str] = []
    params: dict[str, object] = {"n": limit}
    if pipeline:
        where.append("pipeline = :p")
        params["p"] = pipeline if pipeline.endswith("_sync") else f"{pipeline}_sync"
    if status:
        where.append("status = :s")
        params["s"] = status
    sql = (f"SELECT {', '.join(RUN_COLUMNS)} FROM etl_runs {'WHERE ' + ' AND '.join(where) if where else ''} "
           "ORDER BY started_at DESC NULLS LAST, pipeline, entity LIMIT :n")
    with engine_for(url or warehouse_url()).connect() as conn:
        if not _has_table(conn, "etl_runs"):
            return []
        return [RunRow(*r) for r in conn.execute(sa.text(sql), params)]


def run_rows(run_id: str, pipeline: str, url: str | None = None) -> list[RunRow]:
    """Every entity's audit row of one run of one pipeline, in entity order."""
    sql = (f"SELECT {', '.join(RUN_COLUMNS)} FROM etl_runs WHERE run_id = :r AND pipeline = :p "
           "ORDER BY entity")
    with engine_for(url or warehouse_url()).connect() as conn:
        if not _has_table(conn, "etl_runs"):
            return []
        return [RunRow(*r) for r in conn.execute(sa.text(sql), {"r": run_id, "p": pipeline})]


def one_line(text: str | None, width: int = 160) -> str:
    """The first line of an error, cut to `width`, with Markdown table separators made harmless."""
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    first = first.replace("|", "/")
    return first if len(first) <= width else first[: width - 1] + "…"


def _cell(value) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def summary_markdown(rows: list[RunRow], report_url: str | None = None, width: int = 160,
                     missing: dict[str, str] | None = None) -> str:
    """The DAG run's note: one table row per entity, short column names, and one line per failure.
    `missing`: entities of the DAG without an audit row in this run, with why (config error, not run)."""
    missing = {k: v for k, v in (missing or {}).items() if k not in {r.entity for r in rows}}
    failed = [r for r in rows if r.status != "success"]
    total = len(rows) + len(missing)
    head = f"**{len(rows) - len(failed)}/{total} entities ok**" + (
        f" · [data-quality report]({report_url})" if report_url else "")
    if not rows and not missing:
        return head + "\n\nNo entity of this run reached the warehouse audit table."
    lines = [head, "", "| entity | " + " | ".join(SHORT[c] for c in COUNTS) + " | watermark |",
             "|---|" + "---:|" * len(COUNTS) + "---|"]
    for r in rows:
        name = r.entity if r.status == "success" else f"**{r.entity}** ✗"
        lines.append(f"| {name} | " + " | ".join(_cell(v) for v in r.counts().values())
                     + f" | {_cell(r.watermark_to)} |")
    for name in sorted(missing):
        lines.append(f"| **{name}** ✗ | " + " | ".join("" for _ in COUNTS) + " | |")
    for r in failed:
        reason = one_line(r.error, width) if r.status == "failed" else f"still {r.status}"
        lines.append(f"\n**{r.entity} failed:** {reason}")
    for name, why in sorted(missing.items()):
        lines.append(f"\n**{name} failed:** {one_line(why, width)}")
    return "\n".join(lines)


def asset_extra(result: dict) -> dict:
    """What a load task attaches to its table's asset event: the counts and the watermark, JSON-safe."""
    keep = (*COUNTS, "watermark_to", "run_id", "pipeline", "entity", "target")
    return {k: result[k] for k in keep if k in result and result[k] is not None}
