"""Should `warehouse_models` rebuild? Only when a load that triggered it changed rows.

Every `<system>_sync` load publishes its staging table's asset event with the load's counts in `extra`
(etl.orchestration.callables.publish_counts), also when it loaded nothing new, so that the asset views
show every run. A rebuild after a load that inserted, updated or deleted nothing would rebuild identical
tables (and add nothing to the history tables), so the DAG's first task asks this function and skips the
run cleanly when no triggering load changed a row. A run with no triggering event (started by hand, or
by a trigger without counts) always rebuilds: without counts, a change cannot be ruled out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

CHANGE_COUNTS = ("inserted", "updated", "deleted")


def rows_changed(extra: Mapping | None) -> bool:
    """True unless the event's counts say the load changed nothing."""
    if not extra or not any(k in extra for k in CHANGE_COUNTS):
        return True
    return any(int(extra.get(k) or 0) > 0 for k in CHANGE_COUNTS)


def upstream_changed(triggering_events: Mapping[object, Iterable] | None) -> bool:
    """Given the run's triggering asset events (asset -> events with `.extra`), whether to rebuild."""
    events = [e for evs in (triggering_events or {}).values() for e in evs]
    if not events:
        return True
    return any(rows_changed(getattr(e, "extra", None)) for e in events)
