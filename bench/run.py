"""`make bench`: the product's contacts sync against the machine's limit and against a peer (dlt).

    python -m bench.run [--sizes 100000,1000000] [--quick] [--reps 2]

For each size N the demo CRM (a separate process, never measured) serves N contacts. Compared programs
run alternately (A B C ... A B C ...), each in a fresh subprocess, and the medians are reported:

  raw fetch | bare DuckDB | bare PostgreSQL | product DuckDB | product PostgreSQL | peer (dlt, tuned)

then the demo CRM changes 1% of contacts and the product and the peer each sync incrementally, twice,
in alternating order. At the smallest size, page size 100 is measured once (raw fetch and product), as
is the peer's default configuration. Prints one table, writes bench/results/latest.json, then checks the
targets (bench/check.py). `--quick`: N = 20,000, one repetition, no PostgreSQL-less shortcuts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import check, measure, peer_env
from demo.process import start_demo_server

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "var" / "bench"
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://etl:etl@127.0.0.1:5432/bench")
TOKEN = "bench-token"
PAGE_SIZE, SMALL_PAGE = 1000, 100
FULL_PROGRAMS = ("raw_fetch", "bare_duckdb", "bare_postgres", "product_duckdb", "product_postgres", "peer")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Bench:
    """Runs the programs against one demo server; keeps every raw measurement."""

    def __init__(self, server, n: int, peer_python: Path) -> None:
        self.server, self.n, self.peer_python = server, n, peer_python
        self.dir = WORK / f"n{n}"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.runs: dict[str, list[dict]] = {}
        self.state: dict[str, Any] = {}  # where the last full run of each stateful program left its data

    def _record(self, key: str, result: dict) -> dict:
        self.runs.setdefault(key, []).append(result)
        rate = result["rows"] / result["seconds"] if result["seconds"] else 0
        log(f"N={self.n:,} {key}: {result['rows']:,} rows in {result['seconds']:.2f}s ({rate:,.0f} rows/s), "
            f"peak {result['peak_rss_mb']:.0f} MB")
        return result

    def _program(self, name: str, args: dict) -> dict:
        cmd = [sys.executable, "-m", "bench.programs", name, json.dumps(args)]
        return measure.run(cmd)

    def _base(self, page_size: int) -> dict:
        return {"url": self.server.url, "token": TOKEN, "page_size": page_size}

    def full(self, program: str, rep: int, page_size: int = PAGE_SIZE, key: str | None = None) -> dict:
        key = key or program
        base = self._base(page_size)
        if program in ("raw_fetch", "bare_duckdb", "bare_postgres"):
            args = {**base, "duckdb": str(self.dir / f"bare-{rep}.duckdb"), "pg_url": PG_URL}
            return self._record(key, self._program(program, args))
        if program.startswith("product"):
            url = PG_URL if program.endswith("postgres") else f"duckdb:///{self.dir / f'{key}-{rep}.duckdb'}"
            if program.endswith("postgres"):
                reset_postgres(PG_URL)
            args = {**base, "warehouse_url": url, "run_id": f"bench-full-{rep}", "data_dir": str(self.dir)}
            self.state[key] = args
            return self._record(key, self._program("product", args))
        config = "default" if key == "peer_default" else "tuned"
        args = {**base, "config": config, "pipelines_dir": str(self.dir / f"{key}-{rep}"),
                "duckdb": str(self.dir / f"{key}-{rep}.duckdb")}
        self.state[key] = args
        cmd = [str(self.peer_python), str(ROOT / "bench" / "peer_dlt.py"), json.dumps(args)]
        return self._record(key, measure.run(cmd))

    def incremental(self, program: str, round_: int) -> dict:
        if program == "peer":
            cmd = [str(self.peer_python), str(ROOT / "bench" / "peer_dlt.py"), json.dumps(self.state["peer"])]
            return self._record("peer_incremental", measure.run(cmd))
        args = {**self.state[program], "run_id": f"bench-incr-{round_}"}
        return self._record(f"{program}_incremental", self._program("product", args))

    def mutate(self) -> int:
        changed = self.server.admin("mutate", {"fraction": 0.01, "entities": ["contacts"]})
        return changed["changed"]["contacts"]


def reset_postgres(url: str) -> None:
    """An empty `bench` database for each full product run (its own database, nothing else lives there)."""
    import psycopg2

    con = psycopg2.connect(url)
    with con, con.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS public CASCADE")
        cur.execute("CREATE SCHEMA public")
    con.close()


def run_size(n: int, reps: int, peer_python: Path, extras: bool) -> dict:
    log(f"N={n:,}: starting the demo CRM (load average {os.getloadavg()[0]:.2f})")
    load_before = os.getloadavg()
    with start_demo_server("crm", seed=42, scale=0.01, token=TOKEN, extra_args=["--contacts", str(n)]) as srv:
        bench = Bench(srv, n, peer_python)
        for rep in range(reps):
            for program in FULL_PROGRAMS:
                bench.full(program, rep)
        changed = []
        for round_ in range(2):  # A B, then B A
            changed.append(bench.mutate())
            order = ("product_duckdb", "product_postgres", "peer")
            for program in order if round_ == 0 else reversed(order):
                bench.incremental(program, round_)
        if extras:
            bench.full("raw_fetch", 0, SMALL_PAGE, key="raw_fetch_page100")
            bench.full("product_duckdb", 0, SMALL_PAGE, key="product_duckdb_page100")
            bench.full("peer", 0, key="peer_default")
    shutil.rmtree(bench.dir, ignore_errors=True)
    summary = summarise(n, bench.runs, changed)
    summary["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    return summary


def _median(runs: dict[str, list[dict]], key: str, field: str) -> float | None:
    values = [r[field] for r in runs.get(key, [])]
    return statistics.median(values) if values else None


def _rate(runs: dict[str, list[dict]], key: str) -> float | None:
    values = [r["rows"] / r["seconds"] for r in runs.get(key, []) if r["seconds"]]
    return round(statistics.median(values)) if values else None


def summarise(n: int, runs: dict[str, list[dict]], changed: list[int]) -> dict:
    product = runs["product_duckdb"]
    dq_shares = [r["dq_seconds"] / r["seconds"] for r in product]
    figures = {
        "n": n,
        "raw_fetch_rows_s": _rate(runs, "raw_fetch"),
        "bare_duckdb_rows_s": _rate(runs, "bare_duckdb"),
        "bare_postgres_rows_s": _rate(runs, "bare_postgres"),
        "product_duckdb_rows_s": _rate(runs, "product_duckdb"),
        "product_postgres_rows_s": _rate(runs, "product_postgres"),
        "product_full_s": _median(runs, "product_duckdb", "seconds"),
        "product_incremental_s": _median(runs, "product_duckdb_incremental", "seconds"),
        "product_postgres_incremental_s": _median(runs, "product_postgres_incremental", "seconds"),
        "peer_rows_s": _rate(runs, "peer"),
        "peer_full_s": _median(runs, "peer", "seconds"),
        "peer_incremental_s": _median(runs, "peer_incremental", "seconds"),
        "product_peak_rss_mb": max(r["peak_rss_mb"] for r in product),
        "product_postgres_peak_rss_mb": max(r["peak_rss_mb"] for r in runs["product_postgres"]),
        "bare_duckdb_peak_rss_mb": max(r["peak_rss_mb"] for r in runs["bare_duckdb"]),
        "peer_peak_rss_mb": max(r["peak_rss_mb"] for r in runs["peer"]),
        "dq_share": round(statistics.median(dq_shares), 4),
        "product_startup_s": _median(runs, "product_duckdb", "startup_s"),
        "product_steps_s": {step: statistics.median(r["steps"][step] for r in product)
                            for step in product[0]["steps"]},
        "incremental_changed_rows": changed,
        "product_incremental_rows": [r["rows"] for r in runs["product_duckdb_incremental"]],
        "peer_incremental_rows": [r["rows"] for r in runs["peer_incremental"]],
    }
    if "peer_default" in runs:
        figures.update(raw_fetch_page100_rows_s=_rate(runs, "raw_fetch_page100"),
                       product_duckdb_page100_rows_s=_rate(runs, "product_duckdb_page100"),
                       peer_default_rows_s=_rate(runs, "peer_default"),
                       peer_default_peak_rss_mb=max(r["peak_rss_mb"] for r in runs["peer_default"]))
    figures["runs"] = runs
    return figures


def machine(peer_python: Path) -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem_kb = int(next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines()
                      if ln.startswith("MemTotal")))
    versions = {}
    for dist in ("apache-airflow", "great-expectations", "duckdb", "pyarrow", "pandas", "orjson", "requests",
                 "phonenumbers", "psycopg2-binary", "sqlalchemy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    import subprocess

    probe = subprocess.run([str(peer_python), "-c", "import dlt, duckdb; print(dlt.__version__, duckdb.__version__)"],
                           capture_output=True, text=True)
    dlt_version, dlt_duckdb = (probe.stdout.split() + [None, None])[:2]
    versions.update({"dlt (peer venv)": dlt_version, "duckdb (peer venv)": dlt_duckdb,
                     "postgresql": _pg_version()})
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 1024**2, 1),
            "python": platform.python_version(), "os": platform.platform(), "versions": versions}


def _pg_version() -> str | None:
    import psycopg2

    try:
        con = psycopg2.connect(PG_URL)
        with con.cursor() as cur:
            cur.execute("SHOW server_version")
            version = cur.fetchone()[0]
        con.close()
        return version
    except Exception as exc:  # reported, not fatal: the table says which figures are missing
        return f"unreachable: {type(exc).__name__}"


def table(results: list[dict]) -> str:
    rows = [
        ("raw fetch (demo CRM limit)", "raw_fetch_rows_s", "rows/s"),
        ("bare -> DuckDB", "bare_duckdb_rows_s", "rows/s"),
        ("bare -> PostgreSQL", "bare_postgres_rows_s", "rows/s"),
        ("product full -> DuckDB", "product_duckdb_rows_s", "rows/s"),
        ("product full -> PostgreSQL", "product_postgres_rows_s", "rows/s"),
        ("peer dlt (tuned) -> DuckDB", "peer_rows_s", "rows/s"),
        ("peer dlt (default) -> DuckDB", "peer_default_rows_s", "rows/s"),
        ("product full, page size 100", "product_duckdb_page100_rows_s", "rows/s"),
        ("raw fetch, page size 100", "raw_fetch_page100_rows_s", "rows/s"),
        ("product full sync time", "product_full_s", "s"),
        ("product incremental (1%)", "product_incremental_s", "s"),
        ("peer incremental (1%)", "peer_incremental_s", "s"),
        ("product peak RSS", "product_peak_rss_mb", "MB"),
        ("peer peak RSS", "peer_peak_rss_mb", "MB"),
        ("DQ share of sync time", "dq_share", ""),
    ]
    head = f"{'':36}" + "".join(f"{'N=' + format(r['n'], ','):>16}" for r in results)
    lines = [head, "-" * len(head)]
    for label, key, unit in rows:
        cells = "".join(f"{_cell(r.get(key), key):>16}" for r in results)
        lines.append(f"{label + (' (' + unit + ')' if unit else ''):36}{cells}")
    return "\n".join(lines)


def _cell(value: Any, key: str) -> str:
    if value is None:
        return "-"
    if key == "dq_share":
        return f"{value:.1%}"
    if isinstance(value, float) and value < 100:
        return f"{value:.2f}"
    return f"{value:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="contacts served, comma-separated")
    parser.add_argument("--reps", type=int, default=2, help="repetitions of each full-sync program")
    parser.add_argument("--quick", action="store_true", help="smoke test: N=20,000, one repetition")
    parser.add_argument("--out", default=str(RESULTS / "latest.json"))
    args = parser.parse_args(argv)
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    reps = 1 if args.quick else args.reps
    started = time.perf_counter()
    peer_python = peer_env.ensure()
    info = machine(peer_python)
    results = [run_size(n, reps, peer_python, extras=(i == 0)) for i, n in enumerate(sizes)]
    report = {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": args.quick, "reps": reps,
              "page_size": PAGE_SIZE, "machine": info, "results": results,
              "bench_seconds": round(time.perf_counter() - started, 1)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out)
    print(f"\nmachine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, Python {info['python']}")
    print(table(results))
    print(f"\n{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}; bench took {report['bench_seconds']:.0f}s")
    check.main([str(out)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
