"""Every DAG imports cleanly, has retries and tags, and one task per mapping entity."""

from __future__ import annotations

import shutil

import pytest

from etl.config.loader import load_all
from tests.conftest import ROOT, project_dagbag


@pytest.fixture(scope="module")
def dagbag():
    return project_dagbag()


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_one_dag_per_system_with_one_task_per_entity(dagbag):
    from etl.orchestration.assets import asset_for

    for system, cfg in load_all().items():
        dag = dagbag.dags.get(f"{system}_sync")
        assert dag is not None, system
        assert {t.task_id for t in dag.tasks} == {*cfg.entities, "summary"}, system
        for name, entity in cfg.entities.items():
            task = dag.get_task(name)
            assert task.outlets == [asset_for(entity.target)], (system, name)
            assert task.max_active_tis_per_dag == 1  # two runs never load the same table at once
            assert "summary" in task.downstream_task_ids


def test_retries_tags_and_docs(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags and "etl" in dag.tags
        assert dag.doc_md and dag.max_active_runs == 1
        assert all(t.retries >= 1 for t in dag.tasks), dag.dag_id


def test_an_entity_runs_after_what_it_depends_on_is_loaded(dagbag):
    for system, cfg in load_all().items():
        dag = dagbag.dags[f"{system}_sync"]
        for name, entity in cfg.entities.items():
            assert set(entity.depends_on) <= dag.get_task(name).upstream_task_ids, (system, name)
    erp = dagbag.dags["erp_sync"]
    for name in ("orders", "order_lines", "invoices"):  # they convert amounts with the loaded FX rates
        assert "fx_rates" in erp.get_task(name).upstream_task_ids


def test_a_windowed_sql_source_gets_runs_with_real_data_intervals(dagbag, tmp_path, monkeypatch):
    from etl.orchestration.dag_factory import build_dag

    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "_system.yml").write_text("schedule: {cron: '0 * * * *', timezone: Europe/Berlin}\n"
                                        "defaults: {source: {kind: sql, connection: db}}\n")
    (folder / "orders.yml").write_text("primary_key: [id]\ncolumns: {id: {}, day: {type: date}}\n"
                                       "source: {table: orders, window: data_interval, "
                                       "incremental: {cursor_field: day}}\n")
    monkeypatch.setenv("ETL_MAPPINGS_DIR", str(tmp_path))
    assert type(build_dag("w").timetable).__name__ == "CronDataIntervalTimetable"
    assert type(dagbag.dags["erp_sync"].timetable).__name__ == "CronTriggerTimetable"  # watermark-driven


def test_a_copied_system_folder_is_a_dag_with_no_python(mappings_copy):
    shutil.copytree(ROOT / "presets" / "pipedrive", mappings_copy / "pipedrive")
    bag = project_dagbag()
    assert bag.import_errors == {}
    dag = bag.dags["pipedrive_sync"]
    assert {"deals", "users", "summary"} <= {t.task_id for t in dag.tasks}
    assert dag.doc_md.startswith("# pipedrive_sync") and "`deals`" in dag.doc_md  # documented from YAML
    assert "models_sync" not in bag.dag_ids and "identity_sync" not in bag.dag_ids  # not systems
    assert "stg_pipedrive__deals" in {a.name for a in bag.dags["warehouse_models"].timetable.asset_condition.objects}


def test_a_folder_whose_system_name_differs_gets_a_dag_that_says_so(mappings_copy):
    from airflow.sdk.exceptions import AirflowFailException

    shutil.copytree(ROOT / "presets" / "zoho", mappings_copy / "zoho_eu")
    bag = project_dagbag()
    assert bag.import_errors == {}
    broken = bag.dags["zoho_eu_sync"]
    assert [t.task_id for t in broken.tasks] == ["config"]
    with pytest.raises(AirflowFailException, match=r"zoho_eu/_system.yml:\d+: system: 'zoho' but the folder is"):
        broken.tasks[0].python_callable()
    assert {"crm_sync", "erp_sync", "hr_sync", "oa_sync"} <= set(bag.dag_ids)


def test_an_unforeseen_error_in_one_system_leaves_the_others(mappings_copy):
    from etl.orchestration.dag_factory import build_sync_dags

    system_file = mappings_copy / "hr" / "_system.yml"
    system_file.unlink()
    system_file.mkdir()  # reading it raises IsADirectoryError: no MappingError, nothing the loader foresaw
    dags = build_sync_dags()
    assert {"crm_sync", "erp_sync", "oa_sync"} <= set(dags)
    assert [t.task_id for t in dags["hr_sync"].tasks] == ["config"]


def test_a_starting_task_builds_only_its_own_dag(monkeypatch):
    from etl.orchestration.dag_factory import build_sync_dags

    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "hr_sync")  # what Airflow's task runner sets
    assert list(build_sync_dags()) == ["hr_sync"]
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "warehouse_models")  # not a sync: build them all
    assert {"crm_sync", "erp_sync", "hr_sync", "oa_sync"} <= set(build_sync_dags())
