"""Bad landing files: see harness.py."""

from __future__ import annotations

from tests.badinput.harness import Case, csv_bytes, rec

CASES = [
    Case("clean csv", "file", "loaded", {"a.csv": csv_bytes([rec(1), rec(2)])}, values={"r1": {"name": "name 1"}}),
    Case("missing required column", "file", "rejected", {"a.csv": csv_bytes([rec(1)]), "b.csv": b"x,y\n1,2\n"},
         mapping={"source": {"required_columns": ["id"]}}, reason="id"),
]
