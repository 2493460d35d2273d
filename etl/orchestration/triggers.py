"""Start a DAG when a file lands: an Airflow event trigger that watches a landing folder and deletes nothing.

The standard provider's file triggers do not fit a landing folder. `FileTrigger` is no event trigger
(an `AssetWatcher` refuses it) and fires for as long as the file exists. `FileDeleteTrigger` and
`DirectoryFileDeleteTrigger` watch one fixed name and delete the file when it appears, which would
lose the data, or force every sender to write an extra marker file. `LandingFileTrigger` watches a
glob instead and leaves the files alone: moving them is the pipeline's job, after their rows are
committed (`etl.sources.files`).

It lists the folder every `poll_s` seconds in a worker thread (the triggerer's event loop never blocks)
and fires once per new file version (name, size, mtime) that has been *settled* for one poll, so a
file still being written by a slow sender is not announced half-written. Hidden files (`.name.part`)
are ignored. Files waiting when the trigger starts are announced once: they are work to do.
The generator never ends, so the triggerer keeps one watcher running (no worker slot is held) and
remembers what it announced; after a triggerer restart, files still waiting are announced again,
which costs one extra run that finds them in the `etl_files` ledger.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

Signature = tuple  # (size, mtime_ns, tag): tag is an object store's ETag ("" locally)
MAX_NAMES_IN_EVENT = 50


def resolve_folder(folder: str):
    """A landing folder as the pipeline resolves it: relative paths are in the staging location
    (`ETL_STAGING_URL`: a local folder, or an object store that the triggerer lists afresh each poll)."""
    from etl.staging import resolve

    return resolve(folder)


def scan(folder: str, pattern: str) -> dict[str, Signature]:
    """Regular, non-hidden files in `folder` matching `pattern`, with their signature."""
    from etl.staging import listing

    return {e.name: (e.size, e.mtime_ns, e.tag) for e in listing(resolve_folder(folder))
            if fnmatch.fnmatchcase(e.name, pattern)}


class ArrivalTracker:
    """The trigger's memory: which file versions have settled and were already announced."""

    def __init__(self) -> None:
        self.previous: dict[str, Signature] = {}
        self.announced: dict[str, Signature] = {}

    def update(self, current: dict[str, Signature]) -> list[str]:
        """Names of file versions to announce now: unchanged since the last look and not announced yet."""
        settled = {name: sig for name, sig in current.items() if self.previous.get(name) == sig}
        new = sorted(name for name, sig in settled.items() if self.announced.get(name) != sig)
        self.announced = {n: s for n, s in self.announced.items() if n in current}  # forget what left
        self.announced.update((name, settled[name]) for name in new)
        self.previous = current
        return new


class LandingFileTrigger(BaseEventTrigger):
    """Fires when new files matching `pattern` have settled in `folder`; never deletes or moves them."""

    def __init__(self, *, folder: str, pattern: str = "*", poll_s: float = 2.0) -> None:
        super().__init__()
        self.folder, self.pattern, self.poll_s = folder, pattern, poll_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"folder": self.folder, "pattern": self.pattern, "poll_s": self.poll_s})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        tracker = ArrivalTracker()
        while True:
            current = await asyncio.to_thread(scan, self.folder, self.pattern)
            new = tracker.update(current)
            if new:
                self.log.info("%d new file(s) in %s: %s", len(new), self.folder, ", ".join(new[:10]))
                yield TriggerEvent({"folder": self.folder, "count": len(new),
                                    "files": new[:MAX_NAMES_IN_EVENT]})
            await asyncio.sleep(self.poll_s)
