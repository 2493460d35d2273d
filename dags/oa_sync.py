"""# oa_sync

Airflow DAG. Loads the files the office-automation (OA) system drops into its landing folder
(`$ETL_DATA_DIR/oa/landing`): purchase requests and their lines (JSON), approvals (CSV) and tasks (XLSX),
one task group per entity file in `mappings/oa/`, each extract -> transform -> validate -> load.

Runs within seconds of a file landing (an AssetWatcher on the landing folder, no worker slot held) and
daily as a safety net. Each file is loaded once (ledger `etl_files`); loaded files move to `processed/`,
unreadable ones to `rejected/` with a `<name>.reason.txt`.
"""

from etl.orchestration.dag_factory import build_dag

dag = build_dag("oa", doc_md=__doc__)
