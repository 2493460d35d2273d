"""E.164 formatting with `phonenumbers`, spread over the machine's cores when there is a lot of it.

`phonenumbers` is pure Python: about 75 µs per number, the most expensive step of a contacts mapping
by far (1M contacts: 75 s on one core, three times the rest of the mapping). Numbers are independent,
so a large batch is split into one slice per core: this process formats one slice, worker processes
the others. The transform step runs after the extract has finished, so those cores are otherwise idle.

The workers are spawned once per process and reused; they import only this module (no pyarrow, no
pandas), so each costs about 25 MB. Small batches (tests, incremental runs) never start one. As with
any spawned worker, a script that ends up here must keep its top-level code under
`if __name__ == "__main__":` (the worker imports the main module).

Workers die with their parent. A worker killed outright (SIGKILL of an Airflow task, the OOM killer)
would otherwise wait on its queue forever, and keep multiprocessing's resource tracker alive with it
(issue 9: orphans in about half of the trials). Each worker watches its parent from a daemon thread
(`_watch_parent`, every WATCH_S) and exits as soon as it is gone, whatever the platform and whichever
thread started the pool; the resource tracker then sees its pipe close and exits too.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import phonenumbers

log = logging.getLogger(__name__)
PARALLEL_MIN = 5_000  # distinct numbers; below this a worker's round trip costs more than it saves
WATCH_S = 0.5  # how often a worker checks that its parent is alive
_pool: ProcessPoolExecutor | None = None


def format_phone(raw: str, region: str) -> str:
    """The number in E.164; the text as received when it is not a possible number for `region`."""
    if any(ch.isalpha() for ch in raw):  # vanity letters or free text: not a number we can store as given
        return raw
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return raw
    if not phonenumbers.is_possible_number(number):
        return raw
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_many(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """`format_phone` over (number, region) pairs, in order: the unit of work a worker runs."""
    return [format_phone(raw, region) for raw, region in pairs]


def workers() -> int:
    """Processes to use, this one included: `ETL_TRANSFORM_WORKERS`, else the CPUs this process may use."""
    configured = os.environ.get("ETL_TRANSFORM_WORKERS")
    if configured:
        return max(1, int(configured))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def format_all(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """`format_many`, in parallel for large inputs; same results, same order, whatever the split."""
    n = workers()
    if n == 1 or len(pairs) < PARALLEL_MIN:
        return format_many(pairs)
    size = -(-len(pairs) // n)
    slices = [pairs[i : i + size] for i in range(0, len(pairs), size)]
    try:
        pool = _get_pool(n - 1)
        futures: list[Future[list[str]]] = [pool.submit(format_many, s) for s in slices[1:]]
    except Exception:  # no processes to be had (a daemonic parent raises AssertionError): do it all here
        log.warning("phone formatting: no worker processes, formatting %d numbers in-process", len(pairs))
        _reset_pool()
        return format_many(pairs)
    out = format_many(slices[0])
    for future, part in zip(futures, slices[1:], strict=True):
        try:
            out += future.result()
        except BrokenProcessPool:  # a worker died (OOM killer, ...): redo its slice here
            _reset_pool()
            out += format_many(part)
    return out


def _get_pool(size: int) -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn, not fork: this process has threads (HTTP prefetch, DuckDB), which fork would copy mid-lock
        _pool = ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_watch_parent, initargs=(os.getpid(),))
    return _pool


def _watch_parent(parent: int) -> None:
    """Pool initializer: exit this worker as soon as `parent` is no longer its parent (it died)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_S)
        os._exit(1)  # no cleanup to run: the parent that wanted the results is gone

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="etl-parent-watch", daemon=True).start()


def _reset_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


atexit.register(_reset_pool)
