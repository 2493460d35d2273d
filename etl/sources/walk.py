"""Walking a paginator with an `HttpClient`: page after page, each request bounded by the walk's deadline.

`iter_pages` yields every page of a walk in order; with `prefetch`, page n+1 is fetched in a background
thread while the caller converts page n. The guards of a walk (loops, bounds, pages that cannot hold
records) are the paginator's (`etl.sources.pagination`); the deadline goes with each request so a slow
body or a long `Retry-After` cannot outlast `source.max_seconds` (`etl.sources.deadline`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from etl.sources.http import HttpClient
from etl.sources.pagination import Page, PageRequest, Paginator, page_records


def iter_pages(
    client: HttpClient, paginator: Paginator, records_path: str, method: str = "GET", prefetch: bool = True
) -> Iterator[Page]:
    """Every page of the walk, in order; with `prefetch`, page n+1 is fetched while n is consumed."""
    pages = _walk(client, paginator, records_path, method)
    return _prefetched(pages) if prefetch else pages


def _walk(
    client: HttpClient, paginator: Paginator, records_path: str, method: str
) -> Generator[Page, None, None]:
    req: PageRequest | None = paginator.first_request()
    while req is not None:
        resp = client.get_json(req.url, req.params, method, paginator.deadline)
        records = page_records(resp, records_path, paginator.pages)
        yield Page(paginator.pages, resp, records)
        req = paginator.next_request(resp, records)


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_DONE = object()


def _prefetched(pages: Generator[Page, None, None], depth: int = 1) -> Iterator[Page]:
    """Run `pages` in a thread at most `depth` pages ahead; its errors re-raise here, in order.

    Fetching is mostly waiting on the socket (the GIL is free), so it overlaps with the caller's
    Arrow conversion. The bounded queue keeps memory at a few pages whatever the speed difference.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                if not _offer(q, page, stop):
                    return
            _offer(q, _DONE, stop)
        except BaseException as exc:  # handed to the consumer, which raises it
            _offer(q, _Failed(exc), stop)
        finally:
            pages.close()

    threading.Thread(target=produce, name="etl-prefetch", daemon=True).start()
    try:
        while (item := q.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()  # the consumer left early (or failed): let the producer go


def _offer(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put `item` unless the consumer has gone; False means stop producing."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
