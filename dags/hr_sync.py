"""# hr_sync

Airflow DAG. Syncs the HR system (REST API with page-number paging and HTTP Basic auth, connection `hr_api`)
into the warehouse: one task group per entity file in `mappings/hr/`, each extract -> transform -> validate
-> load, incremental on `last_modified`. Daily at 05:30 Europe/Berlin (`mappings/hr/_system.yml`).

`stg_hr__employees.person_email` (firstname.lastname@hr.example) is the key OA approvals and tasks
match people on.
"""

from etl.orchestration.dag_factory import build_dag

dag = build_dag("hr", doc_md=__doc__)
