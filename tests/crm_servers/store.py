"""One small, deterministic CRM dataset that every vendor-shaped test server renders in its own dialect.

The servers under tests/crm_servers/ are written from each vendor's public API reference (paging,
incremental filter syntax, auth header, date formats, error bodies, rate-limit answers); they share
only this store, so a preset test can compare what landed in the warehouse with what the CRM holds.
`touch(0.01)` changes about 1% of the records (a new value and a later modification time), as users
editing records between two syncs would.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

T0 = datetime(2025, 6, 2, 8, 0, 0, tzinfo=UTC)
SIZES = {"users": 8, "accounts": 240, "contacts": 150, "deals": 120, "activities": 100, "tickets": 60}
OPEN_STAGES = ["qualification", "needs_analysis", "proposal", "negotiation"]
CURRENCIES = ["USD", "USD", "USD", "EUR", "GBP"]
INDUSTRIES = ["Software", "Retail", "Manufacturing", "Finance", "Healthcare"]
COUNTRIES = ["USA", "Germany", "France", "UK", "Brazil"]
TIERS = ["gold", "silver", "bronze"]


@dataclass
class Store:
    seed: int = 11
    objects: dict[str, list[dict]] = field(default_factory=dict)
    clock: datetime = T0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        for name, size in SIZES.items():
            self.objects[name] = [getattr(self, f"_{name}")(i, rng) for i in range(1, size + 1)]

    def _stamp(self, rng: random.Random) -> datetime:
        # several records share a second, so cursor ties are the rule, not the exception
        self.clock += timedelta(seconds=rng.choice([0, 0, 1, 7]), milliseconds=rng.choice([0, 250, 500]))
        return self.clock

    def _base(self, i: int, rng: random.Random) -> dict:
        created = self._stamp(rng)
        return {"n": i, "created": created, "modified": created}

    def _users(self, i: int, rng: random.Random) -> dict:
        first, last = rng.choice(["Ana", "Ben", "Chloe", "Dev", "Eva"]), rng.choice(["Smith", "Okafor", "Lind"])
        return {**self._base(i, rng), "first": first, "last": f"{last}{i}",
                "email": f"{first.lower()}.{last.lower()}{i}@example.com"}

    def _owner(self, rng: random.Random) -> int:
        return rng.randint(1, SIZES["users"])

    def _accounts(self, i: int, rng: random.Random) -> dict:
        return {**self._base(i, rng), "name": f"Account {i:03d} Ltd", "domain": f"account{i}.example.com",
                "industry": rng.choice(INDUSTRIES), "country": rng.choice(COUNTRIES), "owner": self._owner(rng),
                "tier": rng.choice(TIERS)}

    def _contacts(self, i: int, rng: random.Random) -> dict:
        return {**self._base(i, rng), "first": rng.choice(["Ivy", "Jon", "Kai", "Lea"]), "last": f"Person{i}",
                "email": f"person{i}@account{rng.randint(1, 50)}.example.com", "title": "Buyer",
                "account": rng.randint(1, SIZES["accounts"]), "owner": self._owner(rng)}

    def _deals(self, i: int, rng: random.Random) -> dict:
        outcome = rng.choice(["open", "open", "won", "lost"])
        stage = rng.choice(OPEN_STAGES) if outcome == "open" else outcome
        return {**self._base(i, rng), "name": f"Deal {i:03d}", "stage": stage, "won": outcome == "won",
                "closed": outcome != "open", "amount": f"{rng.randint(10, 900) * 100}.00",
                "currency": rng.choice(CURRENCIES), "close": date(2025, 6, 1) + timedelta(days=rng.randint(0, 90)),
                "account": rng.randint(1, SIZES["accounts"]), "owner": self._owner(rng)}

    def _activities(self, i: int, rng: random.Random) -> dict:
        return {**self._base(i, rng), "type": rng.choice(["call", "email", "meeting"]), "subject": f"Touch {i}",
                "at": T0 + timedelta(hours=i), "owner": self._owner(rng),
                "contact": rng.randint(1, SIZES["contacts"]), "account": rng.randint(1, SIZES["accounts"]),
                "deal": rng.randint(1, SIZES["deals"])}

    def _tickets(self, i: int, rng: random.Random) -> dict:
        return {**self._base(i, rng), "subject": f"Issue {i}", "status": rng.choice(["new", "open", "closed"]),
                "priority": rng.choice(["high", "medium", "low"]), "contact": rng.randint(1, SIZES["contacts"]),
                "account": rng.randint(1, SIZES["accounts"]), "owner": self._owner(rng)}

    # -------------------------------------------------------------------------------- reading, changing

    def total(self, objects: tuple[str, ...] | None = None) -> int:
        return sum(len(v) for k, v in self.objects.items() if objects is None or k in objects)

    def changed_since(self, name: str, since: datetime | None) -> list[dict]:
        """Records modified at or after `since`, oldest first (ties in creation order)."""
        rows = [r for r in self.objects[name] if since is None or r["modified"] >= since]
        return sorted(rows, key=lambda r: (r["modified"], r["n"]))

    def touch(self, fraction: float, seed: int = 5) -> dict[str, int]:
        """Edit ceil(fraction x size) records of every object; returns how many per object."""
        rng, touched = random.Random(seed), {}
        with self.lock:
            for name, rows in self.objects.items():
                picked = rng.sample(rows, math.ceil(len(rows) * fraction))
                for r in picked:
                    self.clock += timedelta(seconds=3)
                    r["modified"] = self.clock
                    key = "amount" if name == "deals" else "subject" if name in ("activities", "tickets") else (
                        "name" if name == "accounts" else "last")
                    r[key] = f"{float(r[key]) + 1:.2f}" if key == "amount" else f"{r[key]} (edited)"
                touched[name] = len(picked)
        return touched
