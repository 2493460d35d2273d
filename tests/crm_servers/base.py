"""What every vendor-shaped test server shares: the token check, rate-limit faults, a request count."""

from __future__ import annotations

import threading
from datetime import datetime

from tests.helpers.http_server import Reply, Request

from .store import Store


class VendorApi:
    """Subclasses implement `handle`, `unauthorized` and `rate_limited` in their vendor's shape."""

    def __init__(self, store: Store, token: str, rate_limit_every: int = 0) -> None:
        self.store, self.token, self.rate_limit_every = store, token, rate_limit_every
        self.lock = threading.Lock()
        self.calls = 0
        self.rate_limited_answers = 0

    def __call__(self, req: Request) -> Reply:
        with self.lock:
            self.calls += 1
            limited = self.rate_limit_every and self.calls % self.rate_limit_every == 0
            self.rate_limited_answers += bool(limited)
        if not self.authorized(req):
            return self.unauthorized()
        if limited:
            return self.rate_limited()
        with self.store.lock:
            return self.handle(req)

    def authorized(self, req: Request) -> bool:
        return req.headers.get("Authorization") == f"Bearer {self.token}"

    def handle(self, req: Request) -> Reply:
        raise NotImplementedError

    def unauthorized(self) -> Reply:
        raise NotImplementedError

    def rate_limited(self) -> Reply:
        raise NotImplementedError


def iso_ms(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def iso_s(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
