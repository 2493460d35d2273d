"""`make bench`, outbound half: what the push pipeline costs next to the HTTP calls it makes.

    python -m bench.push [--records 100000] [--diff-rows 1000000] [--out bench/results/latest.json]

1. Delivery: `--records` warehouse rows pushed through the demo OA's batch endpoint (1,000 records per
   POST, no rate limit) by the product (`etl.push.run.push`: select, map, diff, deliver, state, audit),
   against a bare loop that POSTs the same payloads in the same batches with one requests.Session and
   does nothing else. Each against its own fresh OA process (in memory); rows/s of both and the ratio.
   Both send one request at a time (the product's own work runs beside its request in flight, but it
   never has two requests out). The product is timed as it runs in an Airflow worker, with Airflow
   already imported; that one-off import is measured apart (`airflow_import_s`). CPU seconds of this
   process and of the OA server are reported beside the wall times: the machine is often shared, and
   `--rounds N` alternates bare loop and product N times and keeps the median of each.
2. Diff: `--diff-rows` rows with push state for all of them, 1% changed in the warehouse; the seconds of
   the plan phase (read in Arrow batches, map, hash, stage, SQL join against etl_push_state), and of the
   join alone. DuckDB warehouse.

Writes its figures under the key "push" of bench/results/latest.json, keeping every other key.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pyarrow as pa
import requests

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench" / "push"
TOKEN = "bench-oa-token"
BATCH = 1000


def log(message: str) -> None:
    print(f"[bench.push {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def people(n: int) -> pa.Table:
    ids = [str(i) for i in range(n)]
    return pa.table({"id": ids, "first_name": [f"Ann{i % 977}" for i in range(n)],
                     "last_name": [f"Lee{i}" for i in range(n)], "country": ["France"] * n})


def sync_spec():
    from etl.config.outbound import Sync

    return Sync.model_validate({
        "sync": "bench_list", "system": "oa", "source": {"table": "bench_people"}, "key": ["contact_no"],
        "target": {"kind": "rest", "connection": "bench_oa", "auth": {"type": "bearer"},
                   "path": "/api/v1/marketing_list_members/{key}",
                   "batch_path": "/api/v1/marketing_list_members/batch", "batch_size": BATCH},
        "columns": {"list": {"default": "bench"}, "contact_no": {"source": "id"},
                    "first_name": {}, "last_name": {}, "country_code": {"source": "country",
                                                                        "lookup": {"values": {"France": "FR"}}}}})


def load_table(url: str, table: pa.Table) -> None:
    import sqlalchemy as sa

    from etl.load.merge import bulk_append
    from etl.load.warehouse import transaction

    with transaction(url) as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS bench_people"))
        conn.execute(sa.text("CREATE TABLE bench_people (id VARCHAR, first_name VARCHAR, last_name VARCHAR, "
                             "country VARCHAR)"))
        bulk_append(conn, "bench_people", table)


def bare_loop(base: str, table: pa.Table) -> float:
    """The same POSTs, payloads built beforehand as plain dicts: the floor the product is measured against."""
    import orjson

    records = [{"external_id": r["id"], "list": "bench", "contact_no": r["id"], "first_name": r["first_name"],
                "last_name": r["last_name"], "country_code": "FR"} for r in table.to_pylist()]
    session = requests.Session()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    started = time.perf_counter()
    for i in range(0, len(records), BATCH):
        body = orjson.dumps({"only_existing": False, "records": records[i:i + BATCH]})
        resp = session.post(f"{base}/api/v1/marketing_list_members/batch", data=body, headers=headers, timeout=120)
        resp.raise_for_status()
        assert all(r["status"] in (200, 201) for r in resp.json()["results"])
    return time.perf_counter() - started


def server_cpu_s(process) -> float:
    """CPU seconds the demo server process has used so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_round(n: int, table: pa.Table, url: str, number: int) -> dict:
    from demo.process import start_demo_server
    from etl.push.run import push

    with start_demo_server("oa", token=TOKEN) as srv:
        cpu = time.process_time()
        bare_s = bare_loop(srv.url, table)
        bare_cpu, bare_srv = time.process_time() - cpu, server_cpu_s(srv.process)
    log(f"bare loop: {n:,} records in {bare_s:.2f}s ({n / bare_s:,.0f} rows/s), CPU {bare_cpu:.2f}s "
        f"(server {bare_srv:.2f}s)")
    with start_demo_server("oa", token=TOKEN) as srv:
        os.environ["AIRFLOW_CONN_BENCH_OA"] = f"http://:{TOKEN}@{srv.url.removeprefix('http://')}"
        srv_before, cpu = server_cpu_s(srv.process), time.process_time()
        started = time.perf_counter()
        result = push(sync_spec(), f"bench-delivery-{number}", url)
        product_s = time.perf_counter() - started
        product_cpu, product_srv = time.process_time() - cpu, server_cpu_s(srv.process) - srv_before
        assert result.counts["created"] == n, result.counts
        held = srv.admin("/_admin/writes")["records_written"]
        assert held == n
    log(f"product: {n:,} records in {product_s:.2f}s ({n / product_s:,.0f} rows/s), CPU {product_cpu:.2f}s "
        f"(server {product_srv:.2f}s)")
    return {"bare_s": bare_s, "product_s": product_s, "bare_cpu_s": bare_cpu, "product_cpu_s": product_cpu,
            "bare_server_cpu_s": bare_srv, "product_server_cpu_s": product_srv}


def delivery(n: int, rounds: int = 1) -> dict:
    import statistics

    started = time.perf_counter()
    import airflow.sdk  # noqa: F401 - a push runs in an Airflow worker, where this is already done

    airflow_s = time.perf_counter() - started
    table = people(n)
    load = os.getloadavg()[0]
    measured = []
    for number in range(rounds):
        url = f"duckdb:///{WORK / f'delivery-{number}.duckdb'}"  # push state starts empty each round
        load_table(url, table)
        measured.append(one_round(n, table, url, number))
    med = {k: statistics.median(m[k] for m in measured) for k in measured[0]}
    bare_s, product_s = med["bare_s"], med["product_s"]
    return {"records": n, "batch_size": BATCH, "concurrency": "one request in flight, both",
            "rounds": rounds, "load_avg_1m": [round(load, 1), round(os.getloadavg()[0], 1)],
            "airflow_import_s": round(airflow_s, 2), "bare_loop_s": round(bare_s, 2), "product_s": round(product_s, 2),
            "bare_rows_per_s": round(n / bare_s), "product_rows_per_s": round(n / product_s),
            "product_vs_bare": round(bare_s / product_s, 3),
            "overhead_us_per_record": round((product_s - bare_s) / n * 1e6, 1),
            **{k: round(v, 2) for k, v in med.items() if "cpu" in k},
            "product_cpu_us_per_record": round((med["product_cpu_s"] - med["bare_cpu_s"]) / n * 1e6, 1),
            "all_rounds": [{k: round(v, 2) for k, v in m.items()} for m in measured]}


def diff(n: int) -> dict:
    import pyarrow.compute as pc
    import sqlalchemy as sa

    from etl import runfiles
    from etl.load.merge import bulk_append
    from etl.load.warehouse import transaction
    from etl.push import diff as diffing
    from etl.push import run as pushrun
    from etl.state import PUSH_STATE_TABLE

    url = f"duckdb:///{WORK / 'diff.duckdb'}"
    sync = sync_spec()
    load_table(url, people(n))
    folder, plan, _, _ = pushrun._plan(sync, "seed", url, dry_run=True)  # hashes of every row, as sent
    with transaction(url) as conn:  # push state as if every row had been accepted
        for _, part in runfiles.read_parts(folder):
            state = pa.table({"sync": pa.array([sync.sync] * part.num_rows), "key": part["_key"],
                              "hash": part["_row_hash"]})
            bulk_append(conn, PUSH_STATE_TABLE, state)
    shutil.rmtree(folder, ignore_errors=True)
    changed = n // 100
    with transaction(url) as conn:
        conn.execute(sa.text("UPDATE bench_people SET last_name = last_name || '-x' "
                             "WHERE CAST(id AS BIGINT) % 100 = 7"))
    started = time.perf_counter()
    folder, plan, selected, _ = pushrun._plan(sync, "bench-diff", url, dry_run=True)
    plan_s = time.perf_counter() - started
    assert plan.changes.num_rows == changed and plan.unchanged == n - changed, (plan.changes.num_rows, plan.unchanged)
    assert pc.all(pc.equal(plan.changes["action"], "update")).as_py()
    # the join alone, on the same stage the plan built
    parts = [(i, t.select(["_key", "_row_hash", "_reason"])) for i, (_, t) in enumerate(runfiles.read_parts(folder))]
    with transaction(url) as conn:
        diffing.stage(conn, parts)
        started = time.perf_counter()
        diffing.compute(conn, sync.sync, mirror=True)
        join_s = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    log(f"diff: {n:,} rows, {changed:,} changed: plan {plan_s:.2f}s (join alone {join_s:.2f}s)")
    return {"rows": n, "changed": changed, "plan_s": round(plan_s, 2), "join_s": round(join_s, 2),
            "warehouse": "duckdb"}


def merge_into(out: Path, key: str, value: dict) -> None:
    """Add `key` to the results file, keeping whatever else it holds."""
    report = json.loads(out.read_text()) if out.exists() else {}
    report[key] = value
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.push", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--diff-rows", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--rounds", type=int, default=1, help="alternate bare loop and product this many times")
    parser.add_argument("--only", choices=("delivery", "diff"), help="measure one part, keep the other's figures")
    args = parser.parse_args(argv)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    os.environ.setdefault("ETL_DATA_DIR", str(WORK / "data"))
    os.environ.setdefault("ETL_PII_SALT", "bench-salt")
    out = Path(args.out)
    figures = (json.loads(out.read_text()).get("push", {}) if out.exists() else {})
    figures["generated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if args.only != "diff":
        figures["delivery"] = delivery(args.records, args.rounds)
    if args.only != "delivery":
        figures["diff"] = diff(args.diff_rows)
    merge_into(out, "push", figures)
    d, f = figures["delivery"], figures["diff"]
    print(f"push delivery: {d['records']:,} records, product {d['product_rows_per_s']:,} rows/s, bare loop "
          f"{d['bare_rows_per_s']:,} rows/s ({d['product_vs_bare']:.0%} of the bare loop's speed)")
    print(f"push diff: {f['rows']:,} rows, {f['changed']:,} changed: {f['plan_s']}s (SQL join {f['join_s']}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
