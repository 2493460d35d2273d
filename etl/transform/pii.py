"""Personal-data protection applied to validated rows, before anything reaches analyst tables.

`hash` keeps a column joinable (the same e-mail hashes the same way in every system, so identity
matching still works) without storing the value; `mask` keeps it readable to a human but useless to
harvest; `drop` never stores it. The salt comes from the environment, never from the repository.
"""

from __future__ import annotations

import hashlib
import logging
import os

import pyarrow as pa
import pyarrow.compute as pc

from etl.config.schema import Entity

log = logging.getLogger(__name__)
DEMO_SALT = "demo-salt-change-me"


def _salt() -> bytes:
    salt = os.environ.get("ETL_PII_SALT")
    if not salt:
        log.warning("ETL_PII_SALT is not set; using the demo salt (set it in production)")
        salt = DEMO_SALT
    return salt.encode()


def hash_values(arr: pa.Array) -> pa.Array:
    salt = _salt()
    uniques = pc.unique(arr).drop_null()
    digests = pa.array([hashlib.sha256(salt + v.encode()).hexdigest() for v in uniques.to_pylist()], pa.string())
    return pc.take(digests, pc.index_in(arr, uniques))


def mask_values(arr: pa.Array) -> pa.Array:
    """'jane.doe@x.com' -> 'j***@x.com'; other text keeps its last 4 characters."""
    email = pc.replace_substring_regex(arr, r"^(.)[^@]*@", r"\1***@")
    other = pc.replace_substring_regex(arr, r"^.*(.{4})$", r"***\1")
    return pc.if_else(pc.match_substring(arr, "@"), email, other)


def protect(table: pa.Table, entity: Entity) -> pa.Table:
    for name, col in entity.columns.items():
        if col.pii == "keep" or name not in table.column_names:
            continue
        if col.pii == "drop":
            table = table.drop_columns([name])
            continue
        arr = pc.cast(table[name], pa.string()).combine_chunks()
        new = hash_values(arr) if col.pii == "hash" else mask_values(arr)
        table = table.set_column(table.column_names.index(name), name, new)
    return table
