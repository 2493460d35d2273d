"""Bad SQL rows (a SQLite source database, table `items`): see harness.py.

SQLite keeps any value in any column whatever its declared type, like a legacy ERP schema would.
"""

from __future__ import annotations

from tests.badinput.harness import Case, rec

S = "sql"
TYPED = "CREATE TABLE items (id TEXT, name TEXT, amount REAL, updated_at TIMESTAMP, flag TEXT, born TEXT)"
FLAG = {"columns": {"flag": {"type": "boolean"}}}
BORN = {"columns": {"born": {"type": "date"}}}

CASES = [
    Case("clean rows", S, "loaded", [rec(1), rec(2)], values={"r2": {"amount": "2.5"}}),
    Case("amount not a number", S, "quarantined", [rec(1), rec(2, amount="abc")], rule="cast", reason="amount",
         bad_ids=("r2",), warehouses=("duckdb", "postgresql")),
    Case("amount text in a REAL column", S, "quarantined", [rec(1), rec(2, amount="12,50 EUR")], ddl=TYPED,
         rule="cast", bad_ids=("r2",)),
    Case("null id", S, "quarantined", [rec(1), rec(2, id=None)], rule="primary_key_not_null", ids=("r1",)),
    Case("integer id", S, "loaded", [rec(1, id=11), rec(2)], values={"11": {"name": "name 1"}}),
    Case("boolean that is neither", S, "quarantined", [rec(1, flag="yes"), rec(2, flag="maybe")], mapping=FLAG,
         rule="cast", reason="flag", bad_ids=("r2",)),
    Case("impossible month", S, "quarantined", [rec(1, born="2024-01-31"), rec(2, born="2024-13-01")],
         mapping=BORN, rule="cast", bad_ids=("r2",)),
    Case("huge float", S, "loaded", [rec(1, amount=1e308), rec(2)], values={"r2": {"amount": "2.5"}}),
    Case("text with newlines and quotes", S, "loaded", [rec(1, name='a "quoted"\nline'), rec(2)],
         values={"r1": {"name": 'a "quoted"\nline'}}),
    Case("unicode beyond the BMP", S, "loaded", [rec(1, name="emoji \U0001F600 ok"), rec(2)],
         values={"r1": {"name": "emoji \U0001F600 ok"}}),
    Case("one megabyte of text", S, "loaded", [rec(1, name="z" * 1_000_000), rec(2)]),
    Case("same id twice", S, "loaded", [rec(1), rec(1, name="twin", updated_at="2024-02-01T00:00:00Z")]),
    Case("empty table", S, "loaded", [], ddl=TYPED),
    Case("table missing", S, "failed", [rec(1)], mapping={"source": {"table": "no_such_table"}},
         error="could not be read"),
    Case("query with a syntax error", S, "failed", [rec(1)],
         mapping={"source": {"table": None, "query": "SELEC id FROM items"}}, error="could not be read"),
    Case("cursor column missing", S, "failed", [{"id": "r1", "name": "a"}],
         mapping={"source": {"incremental": {"cursor_field": "changed_at"}}}, error="cursor"),
]
