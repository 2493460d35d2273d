"""Progress of a long extract, every few batches: rows so far, rows/s and, when the source reports a
total (an offset or page-number API with a total), the ETA.

Source-agnostic: it wraps the batch iterator the extract step consumes, so REST, SQL and file sources
all report the same way, in the task log under Airflow and on stderr under `etl run`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator

import pyarrow as pa

log = logging.getLogger("etl.progress")
MIN_INTERVAL_S = 5.0  # at most one line per this many seconds (the first batch always reports)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def line(label: str, rows: int, seconds: float, total: int | None) -> str:
    """`crm.contacts: 150,000 rows, 12,345 rows/s, 60% of ~250,000, ETA 8s`."""
    rate = rows / seconds if seconds > 0 else 0.0
    text = f"{label}: {rows:,} rows, {rate:,.0f} rows/s"
    if total and rate > 0 and total >= rows:
        text += f", {rows / total:.0%} of ~{total:,}, ETA {_duration((total - rows) / rate)}"
    return text


def track(batches: Iterable[pa.Table], label: str, total: Callable[[], int | None] = lambda: None,
          min_interval_s: float = MIN_INTERVAL_S, clock: Callable[[], float] = time.monotonic
          ) -> Iterator[pa.Table]:
    """Pass the batches through, logging a progress line every few batches."""
    started = last = clock()
    rows = batches_seen = 0
    for batch in batches:
        rows += batch.num_rows
        batches_seen += 1
        now = clock()
        if batches_seen == 1 or now - last >= min_interval_s:
            log.info("%s", line(label, rows, now - started, total()))
            last = now
        yield batch
    if batches_seen > 1:
        log.info("%s (done)", line(label, rows, clock() - started, None))
