"""Freshness: each entity declares the maximum age of its data (`freshness: 26h` in its mapping or the
system's defaults); an entity whose last successful load is older, or that never loaded, is stale.

A scheduler that silently stops (a paused DAG, a dead worker, a source that fails every run) produces no
failure to alert on; this check does, from the audit table alone. The `etl_freshness` DAG runs it and
fails (and so alerts) when anything is stale; `etl freshness` prints the same report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from etl.load.warehouse import engine_for, has_table, warehouse_url


@dataclass(frozen=True)
class Freshness:
    pipeline: str
    entity: str
    max_age_s: int
    last_success: dt.datetime | None
    age_s: float | None

    @property
    def stale(self) -> bool:
        return self.age_s is None or self.age_s > self.max_age_s


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m"


@dataclass
class Report:
    entries: list[Freshness] = field(default_factory=list)

    @property
    def stale(self) -> list[Freshness]:
        return [e for e in self.entries if e.stale]

    def lines(self) -> list[str]:
        if not self.entries:
            return ["no entity declares `freshness`"]
        out = []
        for e in self.entries:
            state = "STALE" if e.stale else "ok"
            last = e.last_success.strftime("%Y-%m-%d %H:%M UTC") if e.last_success else "never loaded"
            out.append(f"{state:<5}  {e.pipeline}.{e.entity}: last success {last} ({_age(e.age_s)} ago), "
                       f"allowed {_age(e.max_age_s)}")
        return out

    def summary(self) -> str:
        stale = self.stale
        if not stale:
            return f"all {len(self.entries)} entities are fresh"
        names = ", ".join(f"{e.pipeline}.{e.entity} ({_age(e.age_s)} old, max {_age(e.max_age_s)})"
                          for e in stale[:10])
        return f"{len(stale)} of {len(self.entries)} entities are stale: {names}" + (" …" if len(stale) > 10 else "")


def last_successes(url: str | None = None) -> dict[tuple[str, str], dt.datetime]:
    with engine_for(url or warehouse_url()).connect() as conn:
        if not has_table(conn, "etl_runs"):
            return {}
        rows = conn.execute(sa.text("SELECT pipeline, entity, max(finished_at) FROM etl_runs "
                                    "WHERE status = 'success' GROUP BY pipeline, entity"))
        return {(p, e): t for p, e, t in rows if t is not None}


def check(url: str | None = None, now: dt.datetime | None = None) -> Report:
    """Compare every entity's declared freshness with its last successful load (UTC, naive as stored)."""
    from etl.config.loader import load_all

    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    last = last_successes(url)
    report = Report()
    for cfg in load_all(strict=False).values():
        for entity in cfg.entities.values():
            if entity.freshness_s is None:
                continue
            seen = last.get((entity.pipeline, entity.entity))
            age = (now - seen).total_seconds() if seen else None
            report.entries.append(Freshness(entity.pipeline, entity.entity, entity.freshness_s, seen, age))
    return report
