"""Bad SQL rows (a SQLite source database): see harness.py."""

from __future__ import annotations

from tests.badinput.harness import Case, rec

CASES = [
    Case("clean rows", "sql", "loaded", [rec(1), rec(2)], values={"r2": {"amount": "2.5"}}),
    Case("amount not a number", "sql", "quarantined", [rec(1), rec(2, amount="abc")],
         rule="cast", reason="amount", bad_ids=("r2",)),
]
