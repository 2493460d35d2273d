"""Bad REST pages: what a source API may send, and what the product owes each (see harness.py)."""

from __future__ import annotations

from tests.badinput.harness import Case, pages, rec

CASES = [
    Case("clean two-page walk", "rest", "loaded", pages([rec(1), rec(2)], [rec(3)]),
         values={"r3": {"name": "name 3", "amount": "3.5"}}),
]
