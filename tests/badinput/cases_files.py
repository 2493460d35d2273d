"""Bad landing files (CSV by default, `*.csv`): see harness.py. A file is loaded whole or rejected with
its reason in `etl_files`; a bad row inside a good file is quarantined."""

from __future__ import annotations

from tests.badinput.harness import Case, Link, csv_bytes, rec

F = "file"
GOOD = csv_bytes([rec(1), rec(2)])
JSON = {"source": {"pattern": "*.json", "format": "json"}}
REQUIRED = {"source": {"required_columns": ["id", "name"]}}

CASES = [
    Case("clean csv", F, "loaded", {"a.csv": GOOD}, values={"r1": {"name": "name 1", "source_file": "a.csv"}}),
    Case("csv field over 128 KiB", F, "loaded", {"a.csv": csv_bytes([rec(1, name="n" * 200_000), rec(2)])},
         values={"r2": {"name": "name 2"}}),
    Case("symlink out of the landing folder", F, "rejected",
         {"a.csv": GOOD, "b.csv": Link(csv_bytes([rec(3), rec(4)]))}, reason="symbolic link",
         warehouses=("duckdb", "postgresql")),
    Case("missing required column", F, "rejected", {"a.csv": GOOD, "b.csv": b"x,y\n1,2\n"}, mapping=REQUIRED,
         reason="missing required column"),
    Case("unclosed quote", F, "rejected", {"a.csv": GOOD, "b.csv": b'id,name\nr3,"open\nr4,x\n'},
         reason="unclosed quote"),
    Case("row with extra fields", F, "rejected", {"a.csv": GOOD, "b.csv": b"id,name\nr3,a,b\n"},
         reason="fields"),
    Case("not utf-8", F, "rejected", {"a.csv": GOOD, "b.csv": "id,name\nr3,Müller\n".encode("cp1252")},
         reason="utf-8"),
    Case("empty file", F, "rejected", {"a.csv": GOOD, "b.csv": b""}, reason="empty file"),
    Case("repeated header column", F, "rejected", {"a.csv": GOOD, "b.csv": b"id,name,id\nr3,a,r4\n"},
         reason="repeats"),
    Case("empty header name", F, "rejected", {"a.csv": GOOD, "b.csv": b"id,,name\nr3,a,b\n"},
         reason="empty column name"),
    Case("amount not a number in one row", F, "quarantined", {"a.csv": csv_bytes([rec(1), rec(2, amount="1,5x")])},
         rule="cast", reason="amount", bad_ids=("r2",)),
    Case("row without id", F, "quarantined", {"a.csv": csv_bytes([rec(1), rec(2, id="")])},
         rule="primary_key_not_null"),
    Case("utf-8 bom and crlf", F, "loaded", {"a.csv": b"\xef\xbb\xbf" + GOOD.replace(b"\n", b"\r\n")},
         values={"r1": {"name": "name 1"}}),
    Case("blank line at the end", F, "loaded", {"a.csv": GOOD + b"\n\n"}, values={"r2": {"amount": "2.5"}}),
    Case("same id in two files", F, "loaded", {"a.csv": GOOD, "b.csv": csv_bytes([rec(1, name="later")])}),
    Case("json truncated", F, "rejected", {"a.json": b'[{"id": "r1"}, {"id": "r2"'}, mapping=JSON,
         reason="not valid JSON"),
    Case("json records under another key", F, "rejected", {"a.json": b'{"items": [{"id": "r1"}]}'},
         mapping={"source": {"pattern": "*.json", "format": "json", "records_path": "rows"}},
         reason="records_path"),
    Case("json empty object records", F, "quarantined", {"a.json": b'[{"id": "r1", "name": "a"}, {}]'},
         mapping=JSON, rule="primary_key_not_null"),
]
