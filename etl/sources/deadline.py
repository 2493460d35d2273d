"""The wall-clock deadline of one REST walk (`source.max_seconds`), checked inside requests too.

Checking the walk's time only between pages leaves two ways to run past it: a server that trickles a
body (each byte arrives before the read timeout, so the socket never times out) and a 429/503 whose
`Retry-After` asks for hours. So the deadline travels with every request: `HttpClient` reads the body
in chunks and stops when the time is up, gives no socket operation longer than the time left, and
never starts a retry wait that would end after the deadline; it fails at once instead, naming the URL
(secrets masked), what the server did and the setting to raise.

Time is `time.monotonic()`: a wall-clock jump (NTP, DST) neither ends a walk early nor extends it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests
import tenacity

SETTING = "source.max_seconds"
CHUNK_BYTES = 1 << 20  # most bytes one read of a body returns (it returns what has arrived, up to this)


class DeadlineExceeded(RuntimeError):
    """The walk's time ran out inside a request or before a retry wait: a permanent failure of the run
    (retrying the task would meet the same slow server with a fresh, equally short budget)."""


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic() value when the time is up
    seconds: float  # the setting's value, for messages
    setting: str = SETTING  # what bounds it: the walk's source.max_seconds, or one request's own bound

    @classmethod
    def after(cls, seconds: float, setting: str = SETTING) -> Deadline:
        return cls(time.monotonic() + seconds, seconds, setting)

    def left(self) -> float:
        """Seconds until the deadline (negative once it has passed)."""
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0

    def exceeded(self, url: str, what: str) -> DeadlineExceeded:
        """The error for `url` (already masked): `what` happened, and which setting to raise."""
        return DeadlineExceeded(
            f"{url}: {what}. Bounded by {self.setting}={self.seconds:g} ({max(self.left(), 0.0):.1f} s left), "
            f"stopped rather than run past it: raise {self.setting} in the mapping if the source really is "
            "this slow")


def span(seconds: float | None) -> str:
    """A wait for messages: `36000 s (10.0 h)`."""
    if seconds is None:
        return "?"
    if seconds >= 3600:
        return f"{seconds:.0f} s ({seconds / 3600:.1f} h)"
    if seconds >= 120:
        return f"{seconds:.0f} s ({seconds / 60:.1f} min)"
    return f"{seconds:g} s"


class StopAtDeadline(tenacity.stop.stop_base):
    """A tenacity stop: the next attempt would start after the walk's deadline, because the server's
    `Retry-After` (as sent, before MAX_RETRY_AFTER_S caps our wait) or our backoff ends after it.
    Keeps the run's error in `error`: waiting it out would only fail later, or run past the bound."""

    def __init__(self, deadline: Deadline | None, shown: str) -> None:
        self.deadline, self.shown = deadline, shown
        self.error: DeadlineExceeded | None = None

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        if self.deadline is None:
            return False
        last = state.outcome.exception() if state.outcome else None
        asked = getattr(last, "retry_after", None)
        left = self.deadline.left()
        if asked is not None and asked > left:
            self.error = self.deadline.exceeded(
                self.shown, f"the server asked to wait Retry-After {span(asked)} before the next attempt, longer "
                            f"than the walk has left; last answer: {last}")
        elif state.upcoming_sleep > left:
            self.error = self.deadline.exceeded(
                self.shown, f"the next attempt would start in {span(state.upcoming_sleep)}, after the walk's "
                            f"deadline; last error: {last}")
        return self.error is not None


def read_body(resp: requests.Response, deadline: Deadline | None, shown: str) -> bytes:
    """The whole body, decoded. Without a deadline one read (requests' own `.content` reads in 10 KB
    steps, 2.5x the CPU on 600 KB pages); with one, reads of whatever has arrived (up to CHUNK_BYTES)
    and a look at the clock after each, so a trickled body ends at the deadline (a body complete by
    its Content-Length is kept: the walk's own check between pages then stops it). Either way the
    connection goes back to the pool once the body is read; a body abandoned midway closes it."""
    if deadline is None:
        return resp.raw.read(decode_content=True)
    parts: list[bytes] = []
    started = time.monotonic()
    try:
        while chunk := resp.raw.read1(CHUNK_BYTES, decode_content=True):
            parts.append(chunk)
            if deadline.passed() and resp.raw.length_remaining != 0:  # 0: all announced bytes are in
                got = sum(map(len, parts))
                raise deadline.exceeded(shown, f"the response body was still arriving after "
                                               f"{time.monotonic() - started:.1f} s "
                                               f"({got} bytes so far, status {resp.status_code}): the server "
                                               "sends it too slowly")
    except BaseException:
        resp.close()
        raise
    return b"".join(parts)
