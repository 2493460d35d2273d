"""Delivery with one target call in flight: the product's own work hides behind the target's answer time.

A push spends most of its time waiting for the target. Run sequentially, every chunk also waited for
this process to turn the previous answer into outcomes, check them and commit state, and to read the
next records: all of it added to the time per record. Here the target calls run on one worker thread,
one call at a time and in order (the target sees exactly the sequential requests it saw before; the
bare-loop benchmark sends the same way), while the calling thread reads the next records and settles
the previous call.

Guarantees unchanged: a call's outcomes are checked and committed only after it returned; a failed call
raises before another one is sent; after a failure the call in flight is waited for and its outcomes
are dropped (not committed), so the next run sends those records again by external id, as after a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from etl.push.commit import Checkpoints
from etl.targets.base import Outcome, Record, check_outcomes


class OneInFlight:
    def __init__(self, done: Checkpoints) -> None:
        self.done = done
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="etl-push-target")
        self.pending: tuple[Future, list[Record], dict, bool] | None = None

    def submit(self, call: Callable[[list[Record]], list[Outcome]], chunk: list[Record], hashes: dict,
               deferred: bool = False) -> None:
        """Send `chunk` once the previous call answered; then settle that previous call meanwhile.
        `deferred`: the target may hold the outcomes back until `finish` (a file target)."""
        previous = self._wait()  # raises the previous call's error: nothing more is sent
        self.pending = (self.pool.submit(call, chunk), chunk, hashes, deferred)
        if previous is not None:
            self._settle(*previous)

    def drain(self) -> None:
        """Wait for the call in flight and settle it (before a phase that must see every outcome)."""
        previous = self._wait()
        if previous is not None:
            self._settle(*previous)

    def _wait(self):
        if self.pending is None:
            return None
        future, chunk, hashes, deferred = self.pending
        self.pending = None
        return future.result(), chunk, hashes, deferred

    def _settle(self, outcomes: list[Outcome], chunk: list[Record], hashes: dict, deferred: bool) -> None:
        check_outcomes(chunk, outcomes, deferred=deferred)
        self.done.add(chunk, hashes, outcomes, [])

    def close(self) -> None:
        """Let a call still in flight (after a failure) end unsettled, so the target is never closed
        under a running call."""
        if self.pending is not None:
            self.pending[0].exception()
            self.pending = None
        self.pool.shutdown(wait=True)
