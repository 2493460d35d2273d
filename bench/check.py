"""The issue's targets, checked against a results JSON: one PASS/FAIL line per target and size.

    python -m bench.check [bench/results/latest.json]

Exit status 1 when any target fails (`bench.run` prints the lines but does not fail on them: a
benchmark that ran is a success even when the product misses a target).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent / "results" / "latest.json"
MEMORY_CAP_MB = 400
MEMORY_GROWTH = 1.5

# (name, measured value, bound, passes?) per size
Target = tuple[str, Callable[[dict], float | None], Callable[[dict], float | None], Callable[[float, float], bool]]
TARGETS: list[Target] = [
    ("full sync DuckDB >= 3x peer rows/s", lambda r: r["product_duckdb_rows_s"],
     lambda r: 3 * r["peer_rows_s"], lambda v, b: v >= b),
    ("full sync DuckDB >= 75% of bare DuckDB rows/s", lambda r: r["product_duckdb_rows_s"],
     lambda r: 0.75 * r["bare_duckdb_rows_s"], lambda v, b: v >= b),
    ("full sync PostgreSQL >= 75% of bare PostgreSQL rows/s", lambda r: r["product_postgres_rows_s"],
     lambda r: 0.75 * r["bare_postgres_rows_s"], lambda v, b: v >= b),
    ("incremental (1%) <= 5% of full sync time (s)", lambda r: r["product_incremental_s"],
     lambda r: 0.05 * r["product_full_s"], lambda v, b: v <= b),
    ("incremental faster than peer's incremental (s)", lambda r: r["product_incremental_s"],
     lambda r: r["peer_incremental_s"], lambda v, b: v < b),
    (f"peak RSS < {MEMORY_CAP_MB} MB", lambda r: r["product_peak_rss_mb"],
     lambda r: MEMORY_CAP_MB, lambda v, b: v < b),
    ("DQ <= 20% of sync time", lambda r: r["dq_share"], lambda r: 0.20, lambda v, b: v <= b),
]


def lines(report: dict) -> list[tuple[bool, str]]:
    out: list[tuple[bool, str]] = []
    results = sorted(report["results"], key=lambda r: r["n"])
    for r in results:
        for name, value_of, bound_of, ok in TARGETS:
            try:
                value, bound = value_of(r), bound_of(r)
            except (KeyError, TypeError):
                out.append((False, f"N={r['n']:>9,}  {name}: not measured"))
                continue
            out.append((ok(value, bound), f"N={r['n']:>9,}  {name}: {_fmt(value)} vs {_fmt(bound)}"))
    out += airflow_lines(report.get("airflow", {}))
    if len(results) > 1:
        small, large = results[0], results[-1]
        value, bound = large["product_peak_rss_mb"], MEMORY_GROWTH * small["product_peak_rss_mb"]
        out.append((value <= bound, f"memory flat: peak RSS at N={large['n']:,} within {MEMORY_GROWTH}x of "
                                    f"N={small['n']:,}: {_fmt(value)} vs {_fmt(bound)} MB"))
    return out


# (key, bound in seconds): wall times as a user sees them, targets for an idle machine (bench/airflow_runs.py)
AIRFLOW_TARGETS = [("dag_noop_s", 20.0, "dag_floor_s"), ("demo_s", 90.0, "demo_floor_s")]


def airflow_lines(figures: dict) -> list[tuple[bool, str]]:
    out: list[tuple[bool, str]] = []
    load = figures.get("load_average_before_after")
    for key, bound, floor in AIRFLOW_TARGETS:
        if key not in figures:
            out.append((False, f"{key} <= {bound:.0f} s: not measured"))
            continue
        note = f" (floor {figures[floor]:.1f} s; load average {load})" if floor in figures else ""
        out.append((figures[key] <= bound, f"{key} <= {bound:.0f} s: {figures[key]:.1f} s{note}"))
    return out


def _fmt(value: float) -> str:
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.check", description="PASS/FAIL per benchmark target")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT, help=f"results file (default {DEFAULT})")
    path = parser.parse_args(sys.argv[1:] if argv is None else argv).path
    report = json.loads(path.read_text())
    checked = lines(report)
    print(f"\ntargets ({path.name}{', QUICK run' if report.get('quick') else ''}):")
    for ok, text in checked:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for ok, _ in checked) else 1


if __name__ == "__main__":
    sys.exit(main())
