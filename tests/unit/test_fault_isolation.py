"""A broken mapping file disables only its own entity: the DAG still parses, that entity's task fails
with the file:line error, and every other DAG (warehouse_models included) is untouched."""

from __future__ import annotations

import pytest

from tests.conftest import project_dagbag


@pytest.fixture
def broken_mappings(mappings_copy):
    root = mappings_copy
    path = root / "crm" / "contacts.yml"
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("primary_key"))
    lines[index] = lines[index].replace("primary_key", "primary_kee")  # the typo of the issue report
    path.write_text("\n".join(lines) + "\n")
    return root, index + 1


def test_a_broken_entity_file_disables_only_that_entity(broken_mappings):
    from airflow.sdk.exceptions import AirflowFailException

    root, line = broken_mappings
    bag = project_dagbag()
    assert bag.import_errors == {}
    healthy = _dagbag_ids_without_override()
    assert set(bag.dag_ids) == healthy  # every DAG still there, warehouse_models included
    crm = bag.dags["crm_sync"]
    ids = {t.task_id for t in crm.tasks}
    assert "contacts.config" in ids and "contacts" not in ids
    assert {"deals", "companies", "summary"} <= ids  # the other entities are untouched
    assert crm.get_task("contacts.config").retries == 0
    with pytest.raises(AirflowFailException) as failed:
        crm.get_task("contacts.config").python_callable()
    message = str(failed.value)
    assert f"{root / 'crm' / 'contacts.yml'}:{line}: primary_kee: unknown setting" in message
    assert f"{root / 'crm' / 'contacts.yml'}" in message and "primary_key: required setting is missing" in message
    assert "stg_crm__contacts" in {a.name for a in bag.dags["warehouse_models"].timetable.asset_condition.objects}


def _dagbag_ids_without_override() -> set[str]:
    import os

    saved = os.environ.pop("ETL_MAPPINGS_DIR")
    try:
        return set(project_dagbag().dag_ids)
    finally:
        os.environ["ETL_MAPPINGS_DIR"] = saved


def test_a_healthy_entity_of_a_system_with_a_broken_file_still_resolves(broken_mappings):
    from etl.config.loader import MappingError, load_system
    from etl.orchestration.callables import entity_config

    root, _ = broken_mappings
    assert entity_config("crm", "deals").entity == "deals"
    with pytest.raises(MappingError, match="contacts.yml"):
        entity_config("crm", "contacts")
    with pytest.raises(MappingError, match="contacts.yml"):
        load_system(root / "crm")  # strict (CLI, tests): still every error


def test_a_broken_system_file_keeps_its_dag_with_one_failing_task(broken_mappings):
    from airflow.sdk.exceptions import AirflowFailException

    root, _ = broken_mappings
    (root / "hr" / "_system.yml").write_text("schedule: {cronn: '0 * * * *'}\n")
    bag = project_dagbag()
    assert bag.import_errors == {}
    hr = bag.dags["hr_sync"]
    assert [t.task_id for t in hr.tasks] == ["config"]
    with pytest.raises(AirflowFailException, match=r"_system.yml:1: schedule.cronn: unknown setting"):
        hr.tasks[0].python_callable()
    assert {"crm_sync", "erp_sync", "oa_sync", "warehouse_models"} <= set(bag.dag_ids)
