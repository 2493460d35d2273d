"""# warehouse_models

Airflow DAG. Rebuilds the warehouse's identity crosswalks (`xwalk_customer`, `xwalk_person`,
`xwalk_review`), then the core (`dim_*`, `fct_*`) and mart (`mart_*`) tables, each in one transaction.

Scheduled on data, not on the clock: any `<system>_sync` load of a staging table (its Asset) starts a
run, so the marts follow the sources within minutes; a run whose triggering loads changed no row skips
(its first task short-circuits the rest). See docs/warehouse.md for what each table holds,
and `mappings/identity/overrides.yml` to pin or forbid a match the rules got wrong.
"""

import datetime as dt
import functools
import operator

from airflow.sdk import DAG, task

from etl.orchestration.assets import crosswalk_assets, model_assets
from etl.orchestration.dag_factory import DEFAULT_ARGS, source_assets

with DAG(
    dag_id="warehouse_models",
    description="Identity crosswalks, then core and mart tables, after any source load",
    doc_md=__doc__,
    schedule=functools.reduce(operator.or_, source_assets()),  # any one stg table updated
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["etl", "warehouse", "models"],
):

    @task.short_circuit
    def changed_upstream(**context) -> bool:
        from etl.orchestration import callables

        return callables.models_needed(context)  # a load that changed no row rebuilds nothing

    @task(max_active_tis_per_dag=1, outlets=crosswalk_assets())  # push syncs read crosswalks
    def build_crosswalks() -> dict:
        from etl.orchestration import callables

        return callables.build_crosswalks()

    @task(max_active_tis_per_dag=1, outlets=model_assets())  # ...and core tables (dim_customer)
    def build_models(_: dict) -> dict:
        from etl.orchestration import callables

        return callables.build_models()

    crosswalks = build_crosswalks()
    changed_upstream() >> crosswalks
    build_models(crosswalks)
