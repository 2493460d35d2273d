"""# crm_sync

Airflow DAG. Syncs the CRM (HubSpot-style REST API, connection `crm_api`) into the warehouse: one task group per
entity file in `mappings/crm/`, each extract -> transform -> validate -> load.

Every load writes its audit row to `etl_runs` (rows extracted / filtered / quarantined / inserted /
updated / unchanged, watermark) and refused rows to `etl_quarantine`, with the reason.
"""

from etl.orchestration.dag_factory import build_dag

dag = build_dag("crm", doc_md=__doc__)
