"""warehouse_models rebuilds only when a triggering load changed rows (etl.models.changes)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from etl.models.changes import upstream_changed


def _events(*extras) -> dict:
    return {f"asset{i}": [SimpleNamespace(extra=e)] for i, e in enumerate(extras)}


@pytest.mark.parametrize(("events", "rebuild"), [
    (_events({"inserted": 0, "updated": 0, "unchanged": 50}), False),  # an idle load: nothing to rebuild
    (_events({"inserted": 0, "updated": 0}, {"inserted": 0, "updated": 0, "quarantined": 3}), False),
    (_events({"inserted": 0, "updated": 0}, {"inserted": 2, "updated": 0}), True),  # one changed table is enough
    (_events({"inserted": 0, "updated": 1}), True),
    (_events({"inserted": 0, "updated": 0, "deleted": 4}), True),
    (_events({}), True),  # an event without counts cannot rule a change out
    ({}, True),  # started by hand
    (None, True),
])
def test_rebuild_only_when_a_load_changed_rows(events, rebuild):
    assert upstream_changed(events) is rebuild
