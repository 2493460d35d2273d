"""# erp_sync

Airflow DAG. Syncs the ERP database (connection `erp_db`, any SQLAlchemy database: SQLite in the demo,
PostgreSQL in production) into the warehouse, hourly on Berlin time: one task group per entity file in
`mappings/erp/`, each extract -> transform -> validate -> load. `fx_rates` is loaded first; orders,
order lines and invoices convert their amounts to USD with it.

Every load writes its audit row to `etl_runs` and refused rows to `etl_quarantine` with the reason
(e.g. "no USD rate for BRL on 1997-05-19").
"""

from etl.orchestration.dag_factory import build_dag

dag = build_dag("erp", doc_md=__doc__)
