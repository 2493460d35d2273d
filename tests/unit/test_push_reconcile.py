"""The push reconciliation's two halves, both checked before any push state commits: the plan places every
selected row exactly once, and every record sent comes back with exactly one outcome."""

from __future__ import annotations

import pyarrow as pa
import pytest

from etl.push.diff import Diff
from etl.push.run import PushError, reconcile_plan
from etl.targets.base import Outcome, Record, TargetError, check_outcomes


def _keys(n: int) -> pa.Table:
    return pa.table({"key": [str(i) for i in range(n)]})


def plan(send: int, held: int, duplicates: int, unchanged: int, presend: int) -> Diff:
    return Diff(changes=_keys(send), held=_keys(held), deletes=_keys(4), duplicates=_keys(duplicates),
                unchanged=unchanged, state_rows=9, presend=presend)


def test_a_plan_that_places_every_selected_row_once_passes():
    reconcile_plan("s", plan(send=3, held=1, duplicates=2, unchanged=5, presend=1), selected=12)  # deletes apart


@pytest.mark.parametrize("selected", [11, 13])
def test_a_plan_that_loses_or_invents_a_row_stops_before_sending(selected):
    with pytest.raises(PushError, match=rf"s: selected {selected} rows but the plan places 12 \(send 3, unchanged 5, "
                                        r"held 1, duplicate 2, refused 1\); nothing was sent"):
        reconcile_plan("s", plan(send=3, held=1, duplicates=2, unchanged=5, presend=1), selected=selected)


RECS = [Record(k, {}, "create") for k in "abc"]


def test_one_outcome_per_record_sent_passes():
    check_outcomes(RECS, [Outcome("c", "created"), Outcome("a", "rejected", reason="422"), Outcome("b", "updated")])
    check_outcomes(RECS, [], deferred=True)  # a file target answers when its file is in place


@pytest.mark.parametrize("outcomes", [
    [Outcome("a", "created"), Outcome("b", "created")],  # one missing
    [Outcome("a", "created"), Outcome("b", "created"), Outcome("c", "created"), Outcome("d", "created")],
    [Outcome("a", "created"), Outcome("a", "updated"), Outcome("b", "created"), Outcome("c", "created")],
])
def test_a_target_answer_that_does_not_match_what_was_sent_commits_nothing(outcomes):
    with pytest.raises(TargetError, match="does not match the 3 records sent .* nothing was committed"):
        check_outcomes(RECS, outcomes)
