"""Outbound-sync test helpers: warehouse tables from plain rows, syncs from inline dicts, target reads."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import requests
import sqlalchemy as sa

from etl.config.outbound import Sync

OA_TOKEN = "test-oa-token"


def put_table(url: str, name: str, rows: list[dict], types: dict[str, str] | None = None) -> None:
    """Replace warehouse table `name` with `rows` (column types from `types`, else text)."""
    from etl.load.merge import bulk_append
    from etl.load.warehouse import quote, transaction

    types = types or {}
    columns = list(rows[0]) if rows else list(types)
    with transaction(url) as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(name)}"))
        defs = ", ".join(f"{quote(c)} {types.get(c, 'TEXT')}" for c in columns)
        conn.execute(sa.text(f"CREATE TABLE {quote(name)} ({defs})"))
        if rows:
            bulk_append(conn, name, pa.Table.from_pylist(rows))


def execute(url: str, sql: str, **params) -> None:
    from etl.load.warehouse import transaction

    with transaction(url) as conn:
        conn.execute(sa.text(sql), params)


def sync_of(**spec) -> Sync:
    return Sync.model_validate({"sync": "test_sync", "system": "oa", **spec})


@contextmanager
def oa_server(**options):
    """The demo OA process with its connection exported as `test_oa` (bearer token)."""
    from demo.process import start_demo_server

    with start_demo_server("oa", token=OA_TOKEN, **options) as srv:
        os.environ["AIRFLOW_CONN_TEST_OA"] = f"http://:{OA_TOKEN}@{srv.url.removeprefix('http://')}"
        try:
            yield srv
        finally:
            os.environ.pop("AIRFLOW_CONN_TEST_OA", None)


def target_records(srv, collection: str, auth=None) -> dict[str, dict]:
    """What the target holds, read back through its own API: external id -> record."""
    headers = {} if auth else {"Authorization": f"Bearer {OA_TOKEN}"}
    data = requests.get(f"{srv.url}/api/v1/{collection}", headers=headers, auth=auth, timeout=30).json()["data"]
    return {r["external_id"]: r for r in data}


def writes(srv) -> int:
    return srv.admin("/_admin/writes")["write_requests"]


def readme_example(tmp_path) -> Path:
    """The README's "Adding one (YAML only)" file, written where it says, beside a copy of the shipped
    `hr/outbound/_defaults.yml`; returns the mappings root to load it from."""
    import re
    import shutil

    from tests.conftest import ROOT

    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Adding one (YAML only)"):]
    name = re.search(r"`mappings/(\w+)/outbound/(\w+)\.yml`", section)
    assert name, "the README names the file it adds"
    body = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert body, "the README shows the file"
    folder = tmp_path / "mappings" / name.group(1) / "outbound"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "mappings" / name.group(1) / "outbound" / "_defaults.yml", folder)
    (folder / f"{name.group(2)}.yml").write_text(body.group(1))
    return tmp_path / "mappings"


@contextmanager
def sqlite_erp(folder: Path, conn_id: str):
    """An ERP database holding `sales_orders` as the demo ERP creates it (constraints, open/cancelled
    status), in SQLite, exported as the Airflow connection `conn_id`."""
    from demo.erp_db import sales_orders_ddl

    url = f"sqlite:///{folder / 'erp.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(sales_orders_ddl("sqlite")))
    engine.dispose()
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    os.environ[variable] = url
    try:
        yield url
    finally:
        os.environ.pop(variable, None)


def sales_orders(url: str, columns: str) -> dict[str, tuple]:
    """crm_deal_id -> the other `columns` of each ERP order."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        out = {r[0]: tuple(r[1:]) for r in conn.execute(sa.text(f"SELECT crm_deal_id, {columns} FROM sales_orders"))}
    engine.dispose()
    return out
