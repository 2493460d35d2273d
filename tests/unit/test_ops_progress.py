"""Progress lines of long extracts, and the duration format of freshness entries."""

from __future__ import annotations

import logging

import pyarrow as pa

from etl.ops import progress


def test_line_with_and_without_a_total():
    assert progress.line("crm.contacts extract", 150_000, 10.0, None) == \
        "crm.contacts extract: 150,000 rows, 15,000 rows/s"
    assert progress.line("hr.jobs extract", 150_000, 10.0, 600_000) == \
        "hr.jobs extract: 150,000 rows, 15,000 rows/s, 25% of ~600,000, ETA 30s"
    assert progress.line("x", 100, 1.0, 100 + 360_000 * 100).endswith("ETA 100h00m")


def test_track_reports_every_few_batches_and_passes_every_batch(caplog):
    ticks = iter([0.0, 1.0, 2.0, 7.0, 8.0, 13.0, 14.0])  # the start, then one per batch, then the end
    batches = [pa.table({"a": list(range(10))}) for _ in range(5)]
    with caplog.at_level(logging.INFO, logger="etl.progress"):
        out = list(progress.track(batches, "t", total=lambda: 50, clock=lambda: next(ticks)))
    assert out == batches
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["t: 10 rows, 10 rows/s, 20% of ~50, ETA 4s",   # the first batch always
                     "t: 30 rows, 4 rows/s, 60% of ~50, ETA 5s",    # 5 s after the last line
                     "t: 50 rows, 4 rows/s, 100% of ~50, ETA 0s",
                     "t: 50 rows, 4 rows/s (done)"]
