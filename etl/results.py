"""What a run is (`RunContext`) and what each step hands to the next: small typed results.

They are frozen dataclasses, not dicts, so a misspelt field fails at once instead of reading None.
Airflow's XCom gets `as_dict()` (plain JSON). `result["inserted"]` also works, for code and tests
written against the dicts the steps returned before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Self


@dataclass(frozen=True)
class RunContext:
    run_id: str
    data_interval_start: str | None = None  # ISO; time-windowed sources read this window
    data_interval_end: str | None = None
    warehouse_url: str | None = None


class _Result:
    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:  # type: ignore[attr-defined]
            raise KeyError(key)
        return getattr(self, key)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class Extracted(_Result):
    extracted: int
    parts: int
    pages: int
    retries: int
    watermark_from: str | None
    watermark_to: str | None
    seconds: float


@dataclass(frozen=True)
class Transformed(_Result):
    rows_out: int
    filtered: int
    seconds: float


@dataclass(frozen=True)
class Validated(_Result):
    valid: int
    quarantined: int
    dq_seconds: float
    seconds: float
    # the largest cursor among the rows to load (etl.quality.cursor); the load's watermark is this,
    # never the largest cursor extracted. None: no valid row carries a cursor.
    watermark_to: str | None = None


@dataclass(frozen=True)
class Loaded(_Result):
    """The entity's audited outcome: extracted = filtered + quarantined + inserted + updated + unchanged."""

    extracted: int
    filtered: int
    quarantined: int
    inserted: int
    updated: int
    unchanged: int
    watermark_to: str | None
    target: str
    dq_seconds: float
    seconds: float
