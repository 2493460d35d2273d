"""Bad mappings: refused when loaded, naming the field (see harness.py)."""

from __future__ import annotations

from tests.badinput.harness import Case, pages, rec

OK = pages([rec(1), rec(2)])

CASES = [
    Case("unknown column type", "config", "invalid", OK, mapping={"columns": {"amount": {"type": "money"}}},
         error="unknown type"),
]
