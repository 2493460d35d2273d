"""Make every staging table the mappings declare exist, empty if its source has never been loaded.

The crosswalks and models read the stg tables of all four systems, but the DAG rebuilds them after
any one system's load, possibly before another system's first sync. Creating a missing table with the
loader's own DDL (`ensure_target`) lets them run on what is there; the first load then finds its table.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from etl.config.loader import load_all
from etl.load.merge import ensure_target
from etl.load.warehouse import existing_columns


def ensure_staging_tables(conn: Connection) -> list[str]:
    """Create the missing stg tables; returns the names created."""
    created = []
    for cfg in load_all(strict=False).values():  # a broken mapping file disables only its own table
        for entity in cfg.entities.values():
            if not existing_columns(conn, entity.target):
                ensure_target(conn, entity)
                created.append(entity.target)
    return created
