"""Personal-data protection applied to validated rows, before anything reaches analyst tables.

`hash` keeps a column joinable (the same e-mail hashes the same way in every system, so identity
matching still works) without storing the value; `mask` keeps it readable to a human but useless to
harvest; `drop` never stores it. The salt comes from the environment, never from the repository.
"""

from __future__ import annotations

import functools
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
        _warn_demo_salt()
        salt = DEMO_SALT
    return salt.encode()


@functools.cache
def _warn_demo_salt() -> None:
    """Once per process: the salt is read for every batch and every run file."""
    log.warning("ETL_PII_SALT is not set; using the demo salt (set it in production)")


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


# ------------------------------------------------------------------------ sealed values (quarantine)
# A quarantined record must be replayable (the original value is needed to map it again) and must not
# be readable by whoever reads etl_quarantine. So the personal fields of a stored record are sealed:
# encrypted (Fernet: AES-128-CBC + HMAC-SHA256) with a key from the environment, `ETL_QUARANTINE_KEY`
# (any text; the key is derived from it), else derived from ETL_PII_SALT. Replay unseals them; with
# another key it stops with an error naming the variable (never the value), before writing anything.

SEALED = "sealed:v1:"


def derived_key(purpose: str) -> bytes:
    """32 bytes for one purpose (quarantine seal, run files), derived from `ETL_QUARANTINE_KEY` or else
    `ETL_PII_SALT`: every worker of a deployment derives the same key, and no key is stored anywhere."""
    secret = os.environ.get("ETL_QUARANTINE_KEY") or _salt().decode()
    return hashlib.sha256(f"etl-{purpose}:".encode() + secret.encode()).digest()


def _fernet():
    import base64

    from cryptography.fernet import Fernet

    return Fernet(base64.urlsafe_b64encode(derived_key("quarantine-seal")))


def personal_sources(entity: Entity) -> list[str]:
    """The source paths of the entity's personal fields (pii hash, mask or drop)."""
    from etl.transform.mapping import source_of

    return [source_of(name, col) for name, col in entity.columns.items() if col.pii != "keep" and not col.derive]


def is_personal(field: str, sources: list[str]) -> bool:
    """A raw field is personal if it is a personal source or lies under one (`email.address` when an
    object came where the e-mail text was expected)."""
    return any(field == s or field.startswith(s + ".") for s in sources)


def seal_record(record: dict, sources: list[str]) -> dict:
    """The record with the values of its personal fields sealed (other fields as they are)."""
    if not sources:
        return record
    fernet = None
    out = {}
    for field, value in record.items():
        if value is not None and is_personal(field, sources):
            fernet = fernet or _fernet()
            value = SEALED + fernet.encrypt(str(value).encode()).decode()
        out[field] = value
    return out


def unseal(value):
    """A sealed value's original text; anything else as it is. Raises ValueError with a clear message
    (never the value) when the key is not the one it was sealed with."""
    if not (isinstance(value, str) and value.startswith(SEALED)):
        return value
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(value[len(SEALED):].encode()).decode()
    except InvalidToken:
        raise ValueError("a sealed personal value cannot be opened: ETL_QUARANTINE_KEY (or ETL_PII_SALT) is "
                         "not the one it was sealed with") from None
