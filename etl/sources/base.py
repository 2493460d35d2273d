"""The source protocol: what every kind of source (REST, SQL, files, a plug-in) gives the pipeline.

A source *reads*. Given the watermark the last committed load reached, it yields the records newer
than that as bounded Arrow batches whose columns are all text, as received (typing is the transform's
job), and fills in an `ExtractStats` as it goes: pages, records, retries and `max_cursor`, the cursor
value it reached, which becomes the next watermark once the load commits. A source never opens a
warehouse transaction: whatever must commit with the data (the file ledger, rows a corrected file
replaces, the watermark) is written by `etl.load` and `etl.state` in the load's transaction.

`etl.sources.factory.open_source` picks the implementation an entity's `source.kind` names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pyarrow as pa


@dataclass
class ExtractStats:
    """Filled in while a source is read, so a caller sees how far a failed run got."""

    pages: int = 0
    records: int = 0
    requests: int = 0
    retries: int = 0
    bytes: int = 0
    seconds: float = 0.0
    max_cursor: str | None = None  # largest incremental cursor value seen, as the source wrote it
    total: int | None = None  # records the source says it will send, when it says so (progress ETA)
    restarts: int = 0  # queries restarted after an expired server cursor (REST source.restart_on)


@runtime_checkable
class Source(Protocol):
    """One entity's source, configured and connected, ready to read."""

    def batches(self, watermark: str | None, stats: ExtractStats) -> Iterator[pa.Table]:
        """All-text Arrow batches of at most `batch_rows` rows newer than `watermark`.

        When the iterator is exhausted, `stats.max_cursor` holds the cursor the source reached
        (None when it keeps no cursor, e.g. a full read or a file source, whose state is its ledger)."""
        ...
