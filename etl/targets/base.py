"""The target protocol: the mirror image of a source. Batches of records in, one outcome per record out.

A source yields bounded batches and the cursor it reached; a target takes bounded batches and says,
for every record, what became of it: `created`, `updated`, `deleted`, or `rejected` with the target's
own reason (a 422 naming the field, a constraint the database enforced). The push runner commits push
state only for records with an accepted outcome, so the diff sends a refused record again next run.

A failure that is not about one record (bad credentials, the server down after every retry) raises
`TargetError`: the run stops, chunks already accepted keep their state, the rest goes out next time.
Targets never touch the warehouse.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, Protocol

Action = Literal["create", "update", "delete"]  # delete: a mirror removal (delete or deactivate)
Status = Literal["created", "updated", "deleted", "rejected"]


class Record(NamedTuple):  # immutable like a frozen dataclass, five times cheaper to make (one per record)
    key: str  # the sync key's text form (external id)
    payload: dict[str, Any]
    action: Action  # what the diff expects: no state yet -> create, state with another hash -> update
    target_id: str | None = None  # the target's id, from push state, when known


class Outcome(NamedTuple):
    key: str
    status: Status
    target_id: str | None = None
    reason: str | None = None  # rejected: the target's reason, never credentials


class TargetError(RuntimeError):
    """The target as a whole refused or failed (not one record): the run stops."""


class Target(Protocol):
    """What every target implements (rest, sql, file)."""

    requests: int  # write requests sent (HTTP calls, SQL statements, files) for the audit

    def write(self, records: list[Record], only_existing: bool) -> list[Outcome]:
        """Create or update; `only_existing` (mode update): never create, a missing record is rejected.
        May return fewer outcomes than records if it defers them (a file target), never more."""
        ...

    def delete(self, records: list[Record]) -> list[Outcome]:
        """Delete (or deactivate, per configuration) records that left the source (mode mirror)."""
        ...

    def finish(self) -> list[Outcome]:
        """Deferred outcomes (a file target's whole run, once its file is in place)."""
        ...

    def close(self) -> None: ...


def check_outcomes(records: list[Record], outcomes: list[Outcome], deferred: bool = False) -> None:
    """Every record sent gets exactly one outcome, and no outcome names a record that was not sent:
    the per-chunk half of the run's reconciliation, checked before the chunk's state commits."""
    sent = [r.key for r in records]
    got = [o.key for o in outcomes]
    if len(set(got)) != len(got) or not set(got) <= set(sent) or (not deferred and set(got) != set(sent)):
        missing = sorted(set(sent) - set(got))[:5]
        extra = sorted(set(got) - set(sent))[:5]
        raise TargetError(f"the target's answer does not match the {len(sent)} records sent "
                          f"({len(got)} outcomes; missing {missing}, unexpected {extra}); nothing was committed")
