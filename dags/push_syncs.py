"""# push_<sync>

Airflow DAGs, one per outbound sync file `mappings/<target system>/outbound/<sync>.yml`: the warehouse's
conformed data pushed into the ERP, OA and HR systems (reverse ETL). Each runs on its cron in the
target's time zone and whenever a table it reads is loaded. See README, "Outbound syncs".
"""

from etl.orchestration.push_dags import build_push_dags

globals().update(build_push_dags())
