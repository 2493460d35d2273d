"""Demo CRM: an HTTP server shaped like HubSpot's CRM v3 objects API, serving demo.crm_data.

It gives extraction code, tests, `make demo` and benchmarks a real network source to sync from: bearer
auth, cursor paging in (updatedAt, id) order so no record is skipped or repeated while data changes between
pages, `updatedAfter` and search filters for incremental loads, and injectable faults (429 with
Retry-After, 500, slow answers, dropped connections) to exercise retries. `/_admin/...` endpoints (no auth,
never faulted) mutate the data, set faults and report which records carry planted dirt.

    python -m demo.crm_server --port 0 --seed 42 --scale 1.0 [--contacts 1000000] [--rate-429 0.1]

prints `LISTENING http://127.0.0.1:<port>` on its first stdout line once it accepts connections.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import random
import re
import signal
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

from demo.crm_data import BASE_SIZES, ENTITIES, CrmData, Key, planted_dirt

OBJECT_TYPES = tuple(e for e in ENTITIES if e != "owners")
_OBJECTS = re.compile(r"^/crm/v3/objects/([^/]+)(/search)?/?$")
_MODIFIED = {"lastmodifieddate", "hs_lastmodifieddate"}
_LAST_ID = 1 << 62  # sorts after every id: (t, _LAST_ID) bounds "updated strictly after t"
Page = tuple[orjson.Fragment, Key | None, int]  # serialised records, next key, data.mutations when built


class ApiError(Exception):
    def __init__(self, status: int, category: str, message: str):
        super().__init__(message)
        self.status, self.category, self.message = status, category, message


@dataclass
class Faults:
    """Shares of API requests answered badly, all zero by default; the same names as flags and as JSON."""

    rate_429: float = field(default=0.0, metadata={"help": "share of requests answered 429"})
    retry_after: str = field(default="1", metadata={"help": "Retry-After header of those 429s, in seconds"})
    rate_500: float = field(default=0.0, metadata={"help": "share of requests answered 500"})
    slow_ms: int = field(default=0, metadata={"help": "delay of slow answers, in milliseconds"})
    rate_slow: float = field(default=0.0, metadata={"help": "share of requests answered slowly"})
    rate_drop: float = field(default=0.0, metadata={"help": "share of connections closed without an answer"})

    def update(self, changes: dict[str, Any]) -> None:
        types = {f.name: type(getattr(self, f.name)) for f in fields(self)}
        for name, value in changes.items():
            if name not in types:
                raise ApiError(400, "VALIDATION_ERROR", f"unknown fault {name!r}; expected {sorted(types)}")
            try:
                setattr(self, name, types[name](value))
            except (TypeError, ValueError):
                message = f"fault {name} must be a {types[name].__name__}, got {value!r}"
                raise ApiError(400, "VALIDATION_ERROR", message) from None


def encode_cursor(key: Key) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}:{key[1]}".encode()).decode().rstrip("=")


def decode_cursor(after: str) -> Key:
    try:
        updated, rid = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode().split(":")
        return int(updated), int(rid)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(400, "VALIDATION_ERROR", f"invalid paging cursor after={after!r}") from None


def parse_instant(value: str | int) -> int:
    """Epoch milliseconds from epoch milliseconds or an ISO 8601 timestamp (UTC when no offset)."""
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", f"not an ISO 8601 timestamp or epoch ms: {text!r}") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


class CrmServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], data: CrmData, token: str, max_page_size: int = 1000,
                 faults: Faults | None = None, fault_seed: int = 0, verbose: bool = False):
        super().__init__(address, _Handler)
        self.data, self.token, self.max_page_size, self.verbose = data, token, max_page_size, verbose
        self.faults = faults or Faults()
        self.lock = threading.Lock()  # guards data and the fault dice across handler threads
        self._dice = random.Random(fault_seed)
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
        self._ahead: dict[tuple[str, int, Key], Future[Page]] = {}  # (entity, size, bound) -> page

    def roll_fault(self) -> str | None:
        """The fault to inject into this request, if any, from the seeded dice."""
        f = self.faults
        with self.lock:
            draws = [self._dice.random() for _ in range(4)]
        for name, rate, draw in (("drop", f.rate_drop, draws[0]), ("429", f.rate_429, draws[1]),
                                 ("500", f.rate_500, draws[2]), ("slow", f.rate_slow, draws[3])):
            if draw < rate:
                return name
        return None

    def list_page(self, entity: str, limit: int | None, after: str | None, updated_after: int | None) -> dict:
        if limit is not None and limit < 1:
            raise ApiError(400, "VALIDATION_ERROR", f"limit must be a positive integer, got {limit}")
        bound = max(decode_cursor(after) if after else (0, 0), (updated_after or 0, _LAST_ID))
        results, next_key = self._page(entity, min(limit or 100, self.max_page_size), bound)
        payload: dict[str, Any] = {"results": results}
        if next_key:
            payload["paging"] = {"next": {"after": encode_cursor(next_key)}}
        return payload

    def _page(self, entity: str, size: int, bound: Key) -> tuple[orjson.Fragment, Key | None]:
        """A page, taken from the read-ahead when it guessed this request; then the next page is read
        ahead. Syncs ask for pages in order, so the server builds page n+1 while the client still reads
        page n, as a remote API would; CPU per record is unchanged. A mutation since voids a guess."""
        with self.lock:
            guess = self._ahead.pop((entity, size, bound), None)
        results, next_key, generation = guess.result() if guess else self._build_page(entity, size, bound)
        if generation != self.data.mutations:
            results, next_key, generation = self._build_page(entity, size, bound)
        if next_key:
            guess = self._reader.submit(self._build_page, entity, size, next_key)
            with self.lock:
                self._ahead[(entity, size, next_key)] = guess
                while len(self._ahead) > 8:  # parallel syncs each keep one guess; drop the oldest
                    self._ahead.pop(next(iter(self._ahead))).cancel()
        return results, next_key

    def server_close(self) -> None:
        self._reader.shutdown(cancel_futures=True)
        super().server_close()

    def _build_page(self, entity: str, size: int, bound: Key) -> Page:
        with self.lock:
            records, next_key = self.data.page(entity, size, bound)
            generation = self.data.mutations
        return orjson.Fragment(orjson.dumps(records)), next_key, generation

    def admin(self, method: str, name: str, body: dict) -> dict:
        with self.lock:
            if (method, name) == ("GET", "stats"):
                return self.data.counts()
            if (method, name) == ("GET", "dirty"):
                return planted_dirt(self.data)
            if (method, name) == ("POST", "mutate"):
                try:
                    return self.data.mutate(body.get("fraction", 0.01), body.get("new", 0),
                                            body.get("entities"))
                except (TypeError, ValueError) as err:
                    raise ApiError(400, "VALIDATION_ERROR", str(err)) from None
            if name == "faults" and method in ("GET", "POST"):
                self.faults.update(body)
                return asdict(self.faults)
        raise ApiError(404, "OBJECT_NOT_FOUND", f"no admin endpoint {method} /_admin/{name}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't wait for an ACK between
    server: CrmServer

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            body = self._read_json()
            if url.path.startswith("/_admin/"):
                return self._send(200, self.server.admin(method, url.path[len("/_admin/"):], body))
            if self._inject_fault():
                return
            if self.headers.get("Authorization") != f"Bearer {self.server.token}":
                raise ApiError(401, "INVALID_AUTHENTICATION", "missing or invalid bearer token")
            self._send(200, self._api(method, url.path, parse_qs(url.query), body))
        except ApiError as err:
            self._send(err.status, {"status": "error", "message": err.message, "category": err.category})
        except Exception as err:  # an answer keeps the client's connection usable; the trace goes to stderr
            self.log_error("internal error: %r", err)
            self._send(500, {"status": "error", "message": "internal error", "category": "INTERNAL_ERROR"})

    def _api(self, method: str, path: str, query: dict[str, list[str]], body: dict) -> dict:
        match = _OBJECTS.match(path)
        entity = "owners" if path.rstrip("/") == "/crm/v3/owners" else match and match[1]
        if not entity or (entity not in OBJECT_TYPES and entity != "owners"):
            raise ApiError(404, "OBJECT_NOT_FOUND", f"unknown object type or path {path!r}")
        if match and match[2]:
            if method != "POST":
                raise ApiError(405, "VALIDATION_ERROR", "search takes POST with a JSON body")
            return self.server.list_page(entity, body.get("limit"), body.get("after"), _search_after(body))
        if method != "GET":
            raise ApiError(405, "VALIDATION_ERROR", f"{path} takes GET")
        arg = {name: values[-1] for name, values in query.items()}
        if not arg.get("limit", "1").isdigit():
            raise ApiError(400, "VALIDATION_ERROR", f"limit must be a positive integer, got {arg['limit']!r}")
        updated_after = parse_instant(arg["updatedAfter"]) if "updatedAfter" in arg else None
        payload = self.server.list_page(entity, int(arg.get("limit", 100)), arg.get("after"), updated_after)
        if "paging" in payload:
            link_args = urlencode({**arg, "after": payload["paging"]["next"]["after"]})
            payload["paging"]["next"]["link"] = f"http://{self.headers.get('Host', '')}{path}?{link_args}"
        return payload

    def _inject_fault(self) -> bool:
        """Apply a rolled fault; True when the request has been answered (or dropped) by it."""
        fault = self.server.roll_fault()
        if fault == "drop":
            self.close_connection = True  # no answer at all: the client sees the connection close
            return True
        if fault in ("429", "500"):
            status, category = (429, "RATE_LIMITS") if fault == "429" else (500, "INTERNAL_ERROR")
            headers = {"Retry-After": self.server.faults.retry_after} if fault == "429" else {}
            error = {"status": "error", "message": f"injected fault {fault}", "category": category}
            self._send(status, error, headers)
            return True
        if fault == "slow":
            time.sleep(self.server.faults.slow_ms / 1000)
        return False

    def _read_json(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            raise ApiError(400, "VALIDATION_ERROR", "request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "VALIDATION_ERROR", "request body must be a JSON object")
        return body

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = orjson.dumps(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


def _search_after(body: dict) -> int | None:
    """The exclusive lower bound on last-modified time from a search body; only that filter is supported."""
    groups = body.get("filterGroups") or []
    if len(groups) > 1:
        raise ApiError(400, "VALIDATION_ERROR", "the demo CRM supports at most one filterGroup")
    bound = None
    for flt in groups[0].get("filters", []) if groups else []:
        if flt.get("propertyName") not in _MODIFIED or flt.get("operator") not in ("GT", "GTE"):
            raise ApiError(400, "VALIDATION_ERROR",
                           "supported filters: lastmodifieddate or hs_lastmodifieddate with GT or GTE")
        value = parse_instant(flt.get("value", ""))
        bound = max(bound or 0, value - 1 if flt["operator"] == "GTE" else value)
    return bound


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m demo.crm_server", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (see the LISTENING line)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--scale", type=float, default=1.0, help=f"multiplies the base sizes {BASE_SIZES}")
    for entity in ENTITIES:
        p.add_argument(f"--{entity}", type=int, metavar="N", help=f"number of {entity}, overriding --scale")
    p.add_argument("--token", default=os.environ.get("DEMO_CRM_TOKEN", "demo-token"),
                   help="bearer token clients must send (default: $DEMO_CRM_TOKEN or demo-token)")
    p.add_argument("--max-page-size", type=int, default=1000)
    defaults = Faults()
    for f in fields(Faults):
        default = getattr(defaults, f.name)
        flag = f"--{f.name.replace('_', '-')}"
        p.add_argument(flag, type=type(default), default=default, help=f.metadata["help"])
    p.add_argument("--fault-seed", type=int, help="seed of the fault dice (default: --seed)")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p.parse_args(argv)


def create_server(args: argparse.Namespace) -> CrmServer:
    data = CrmData(args.seed, args.scale, {e: getattr(args, e) for e in ENTITIES})
    faults = Faults(**{f.name: getattr(args, f.name) for f in fields(Faults)})
    seed = args.seed if args.fault_seed is None else args.fault_seed
    return CrmServer((args.host, args.port), data, args.token, args.max_page_size, faults, seed, args.verbose)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    server = create_server(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds serve_forever so the socket closes
    print(f"LISTENING http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
