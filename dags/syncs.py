"""# <system>_sync

Airflow DAGs, one per system folder `mappings/<system>/` (a folder holding `_system.yml`): each syncs that
system's entity files into the warehouse. A new system (a preset copied from `presets/`, say) is a folder
of YAML: the next parse of this file adds its DAG, no Python. A folder whose `_system.yml` is broken still
gets its DAG, with one task that fails with the file:line errors; the other systems are untouched.
Each DAG's page comes from its `_system.yml` (`description`, `doc`).
"""

from etl.orchestration.dag_factory import build_sync_dags

globals().update(build_sync_dags())
