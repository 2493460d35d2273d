"""The push DAGs' schedules: cron in the target's time zone (crm_customers at 03:00 Asia/Shanghai) OR the
Assets of the tables a sync reads (published by the inbound loads), and never two runs of one sync at once."""

from __future__ import annotations

import datetime as dt

import pytest

from etl.config.outbound import load_syncs


@pytest.fixture(scope="module")
def dags():
    from tests.conftest import project_dagbag

    bag = project_dagbag()
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def _fires(timetable, after: dt.datetime) -> dt.datetime:
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    # DAGs declare Task SDK timetables; the scheduler computes runs with their core twins
    info = coerce_to_core_timetable(timetable).next_dagrun_info(last_automated_data_interval=None,
                                      restriction=TimeRestriction(earliest=after, latest=None, catchup=True))
    return info.run_after


def _assets(condition) -> set[str]:
    """Every Asset URI in an `a | b | ...` condition."""
    found = getattr(condition, "objects", None)
    if found is None:
        return {condition.uri}
    return set().union(*(_assets(c) for c in found))


def test_crm_customers_runs_at_three_in_the_morning_shanghai_time(dags):
    schedule = dags["push_crm_customers"].timetable
    cron = schedule.timetable
    first = _fires(cron, dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC))
    assert first == dt.datetime(2026, 6, 1, 19, 0, tzinfo=dt.UTC)  # 03:00 on 2 June in Shanghai (UTC+8)
    assert _fires(cron, first + dt.timedelta(minutes=1)) == first + dt.timedelta(days=1)


def test_every_push_is_also_triggered_by_the_loads_of_what_it_reads(dags):
    published = {a.uri for d in dags.values() if not d.dag_id.startswith("push_") for t in d.tasks
                 for a in getattr(t, "outlets", [])}
    assert {"warehouse://etl/xwalk_person", "warehouse://etl/dim_customer"} <= published  # warehouse_models
    for name, sync in load_syncs().items():
        dag = dags[f"push_{name}"]
        assert dag.max_active_runs == 1 and all(t.max_active_tis_per_dag == 1 for t in dag.tasks), name
        wanted = {f"warehouse://etl/{t}" for t in sync.reads}
        assert _assets(dag.timetable.asset_condition) == wanted, name
        assert wanted <= published, (name, wanted - published)  # a load or a model build publishes each
    assert _assets(dags["push_crm_customers"].timetable.asset_condition) == {
        "warehouse://etl/stg_crm__companies"}
