"""The measured programs, each run in a fresh subprocess by `bench.run` (so its peak RSS is its own).

    python -m bench.programs <name> '<json arguments>'

prints one `RESULT {...}` line. Every program times only its work: imports and warm-up happen before
the clock starts and are reported separately (`startup_s`).

- `raw_fetch`: every page through one keep-alive `requests.Session`, bodies discarded (the cursor is
  cut out of the body's tail, no JSON parse): what the demo CRM can serve.
- `bare_duckdb` / `bare_postgres`: plain sequential Python, the least work that lands typed rows: fetch,
  orjson, one Arrow column per field, timestamps and booleans typed, then a DuckDB INSERT from Arrow or a
  PostgreSQL COPY of CSV per 50,000 rows. No mapping, validation, audit, staging or merge.
- `product`: `etl.steps.run_entity` for crm.contacts, in-process, page size overridden through a copy
  of the pydantic entity; full or incremental is whatever the warehouse's watermark says.
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

BATCH_ROWS = 50_000  # rows per warehouse write in the bare paths, the product's default batch_rows
CONTACTS_PATH = "/crm/v3/objects/contacts"
_AFTER = re.compile(rb'"after":"([^"]+)"')


def _session(token: str):
    import requests

    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
    return session


def _bodies(args: dict) -> Iterator[bytes]:
    """Every page body of the contacts walk, in order (cursor paging as the demo CRM serves it)."""
    session, url = _session(args["token"]), args["url"] + CONTACTS_PATH
    params: dict[str, Any] = {"limit": args["page_size"]}
    while True:
        response = session.get(url, params=params, timeout=60)
        response.raise_for_status()
        body = response.content
        yield body
        found = _AFTER.search(body, max(0, len(body) - 600))  # "paging" is the body's last member
        if not found:
            return
        params["after"] = found.group(1).decode()


def raw_fetch(args: dict) -> dict:
    started, rows, nbytes = time.perf_counter(), 0, 0
    for body in _bodies(args):
        nbytes += len(body)
        rows += body.count(b'"archived":')  # one per record; counting is cheaper than parsing
    return {"rows": rows, "seconds": time.perf_counter() - started, "bytes": nbytes}


# ------------------------------------------------------------------------------------------ bare


PROPERTIES = ("firstname", "lastname", "email", "phone", "associatedcompanyid", "jobtitle", "lifecyclestage",
              "hs_lead_source", "city", "country", "hubspot_owner_id", "loyalty_score", "preferred_language",
              "createdate", "hs_lastmodifieddate", "hs_object_id")


def _schema():
    import pyarrow as pa

    fields = [("id", pa.string()), *[(p, pa.string()) for p in PROPERTIES],
              ("created_at", pa.timestamp("us", tz="UTC")), ("updated_at", pa.timestamp("us", tz="UTC")),
              ("archived", pa.bool_())]
    return pa.schema(fields)


def _page_table(records: list[dict]):
    """One page of records as a typed Arrow table: a list comprehension and one pa.array per field."""
    import pyarrow as pa
    import pyarrow.compute as pc

    props = [r["properties"] for r in records]
    columns = {"id": pa.array([r["id"] for r in records], pa.string())}
    for name in PROPERTIES:
        columns[name] = pa.array([p.get(name) for p in props], pa.string())
    for field, name in (("createdAt", "created_at"), ("updatedAt", "updated_at")):
        text = pa.array([r[field] for r in records], pa.string())
        columns[name] = pc.cast(text, pa.timestamp("us", tz="UTC"))
    columns["archived"] = pa.array([r["archived"] for r in records], pa.bool_())
    return pa.table(columns)


def _typed_batches(args: dict) -> Iterator[Any]:
    import orjson
    import pyarrow as pa

    pending, rows = [], 0
    for body in _bodies(args):
        table = _page_table(orjson.loads(body)["results"])
        pending.append(table)
        rows += table.num_rows
        if rows >= BATCH_ROWS:
            yield pa.concat_tables(pending)
            pending, rows = [], 0
    if pending:
        yield pa.concat_tables(pending)


def bare_duckdb(args: dict) -> dict:
    import duckdb

    con = duckdb.connect(args["duckdb"])
    cols = ", ".join(f'"{f.name}" {_duck_type(f.type)}' for f in _schema())
    con.execute(f"CREATE OR REPLACE TABLE bare_contacts ({cols})")
    started, rows = time.perf_counter(), 0
    for batch in _typed_batches(args):
        con.register("batch", batch)
        con.execute("INSERT INTO bare_contacts SELECT * FROM batch")
        con.unregister("batch")
        rows += batch.num_rows
    con.close()  # includes the checkpoint, as the product's commit does
    return {"rows": rows, "seconds": time.perf_counter() - started}


def _duck_type(arrow_type) -> str:
    text = str(arrow_type)
    return {"string": "VARCHAR", "bool": "BOOLEAN"}.get(text, "TIMESTAMPTZ")


def bare_postgres(args: dict) -> dict:
    import psycopg2
    import pyarrow.csv as pacsv

    con = psycopg2.connect(args["pg_url"])
    cols = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in _schema())
    with con, con.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bare_contacts")
        cur.execute(f"CREATE TABLE bare_contacts ({cols})")
    started, rows = time.perf_counter(), 0
    with con, con.cursor() as cur:
        for batch in _typed_batches(args):
            buf = io.BytesIO()
            pacsv.write_csv(batch, buf, pacsv.WriteOptions(include_header=False))
            buf.seek(0)
            cur.copy_expert("COPY bare_contacts FROM STDIN WITH (FORMAT csv)", buf)
            rows += batch.num_rows
    con.close()
    return {"rows": rows, "seconds": time.perf_counter() - started}


def _pg_type(arrow_type) -> str:
    text = str(arrow_type)
    return {"string": "text", "bool": "boolean"}.get(text, "timestamptz")


# --------------------------------------------------------------------------------------- product


def product(args: dict) -> dict:
    """One `run_entity` of crm.contacts; per-step seconds come from wrapping the step functions."""
    os.environ["AIRFLOW_CONN_CRM_API"] = f"http://:{args['token']}@{args['url'].removeprefix('http://')}"
    os.environ["ETL_DATA_DIR"] = args["data_dir"]
    os.environ.setdefault("ETL_PII_SALT", "bench-salt")
    started = time.perf_counter()
    from etl import steps
    from etl.config.loader import load_system, mappings_dir
    from etl.quality.validate import _gx_runtime

    _gx_runtime()  # GX import and context: a fixed per-process cost, reported as startup_s
    import duckdb_engine  # noqa: F401  the other modules the steps import lazily: import time is startup too
    import phonenumbers  # noqa: F401
    import psycopg2  # noqa: F401

    import etl.transform.phones  # noqa: F401
    entity = load_system(mappings_dir() / "crm").entities["contacts"]
    entity = entity.model_copy(update={"source": entity.source.model_copy(update={"page_size": args["page_size"]})})
    startup = time.perf_counter() - started
    step_seconds: dict[str, float] = {}
    for name in ("extract", "transform", "validate", "load"):
        setattr(steps, name, _timed(getattr(steps, name), name, step_seconds))
    result = steps.run_entity(entity, steps.RunContext(args["run_id"], warehouse_url=args["warehouse_url"]))
    return {"rows": result["extracted"], "seconds": result["seconds"], "dq_seconds": result["dq_seconds"],
            "startup_s": round(startup, 3), "steps": step_seconds,
            "counts": {k: result[k] for k in ("extracted", "filtered", "quarantined", "inserted", "updated",
                                               "unchanged")}}


def _timed(step: Callable, name: str, into: dict[str, float]) -> Callable:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            into[name] = round(time.perf_counter() - started, 3)

    return wrapper


PROGRAMS: dict[str, Callable[[dict], dict]] = {
    "raw_fetch": raw_fetch, "bare_duckdb": bare_duckdb, "bare_postgres": bare_postgres, "product": product,
}


def main(argv: list[str]) -> None:
    name, args = argv[0], json.loads(argv[1])
    result = PROGRAMS[name](args)
    result["self_maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
