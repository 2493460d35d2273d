"""Demo OA system, write side: the customer master and marketing lists the OA system keeps.

The OA system exports files (demo/oa_files.py) and accepts records through a REST API, as many OA
suites do: bearer-token auth, validation that names the field (422), a rate limit (429 with
Retry-After), idempotent PUT by external id and a batch endpoint (see demo/write_api.py).

Collections and their rules (what the outbound syncs must satisfy):
- ``customers``: customer_no (``C-`` and digits), name, address, city, country_code (ISO 3166 alpha-2),
  customer_since (``YYYY/MM/DD``, the OA's format), tier;
- ``marketing_list_members``: list (a list name), contact_no, first_name, last_name, country_code, language.

Run: ``python -m demo.oa_server --port 0 [--store oa.sqlite] [--rate 50]`` prints ``LISTENING ...``.
"""

from __future__ import annotations

import argparse
import hmac
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import orjson

from demo.write_api import Rule, WriteStore, route

SCHEMAS = {
    "customers": {
        "customer_no": Rule(required=True, pattern=r"C-\d+"),
        "name": Rule(required=True, max_length=120),
        "address": Rule(max_length=200),
        "city": Rule(max_length=80),
        "country_code": Rule(required=True, pattern=r"[A-Z]{2}"),
        "customer_since": Rule(pattern=r"\d{4}/\d{2}/\d{2}"),
        "tier": Rule(choices=("bronze", "silver", "gold", "platinum")),
    },
    "marketing_list_members": {
        "list": Rule(required=True, max_length=60),
        "contact_no": Rule(required=True),
        "first_name": Rule(max_length=80),
        "last_name": Rule(required=True, max_length=80),
        "country_code": Rule(pattern=r"[A-Z]{2}"),
        "language": Rule(max_length=10),
        # a member who leaves the audience can be kept, unsubscribed (a mirror sync's `deactivate`)
        "subscribed": Rule(type="boolean"),
    },
}


class OaHandler(BaseHTTPRequestHandler):
    # TCP_NODELAY: headers and body go out in two writes; with Nagle on, the body's last segment waited
    # for the client's delayed ACK, ~40 ms per answer (the push benchmark measured that, not HTTP)
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server_version = "DemoOA/1.0"
    store: WriteStore
    token: str

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - inherited signature
        pass

    def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None else orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self, method: str) -> None:
        path, body = urlsplit(self.path).path, self._body()
        if path == "/_admin/writes":
            return self._send(200, self.store.stats())
        if path == "/_admin/reset":
            rate = orjson.loads(body).get("rate_per_s") if body else None
            return self._send(200, self.store.reset(rate))
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            return self._send(401, {"message": "a valid bearer token is required"},
                              {"WWW-Authenticate": 'Bearer realm="demo-oa"'})
        answer = route(self.store, method, path, body, self.headers)
        if answer is None:
            return self._send(404, {"message": f"no such endpoint: {path}"})
        self._send(*answer)

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")


def make_server(host: str = "127.0.0.1", port: int = 0, token: str = "oa-token", store: str | None = None,
                rate: float = 0.0, burst: int = 20) -> ThreadingHTTPServer:
    handler = type("BoundOaHandler", (OaHandler,), {"store": WriteStore(SCHEMAS, store, rate, burst),
                                                    "token": token})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=os.environ.get("DEMO_OA_TOKEN", "oa-token"))
    parser.add_argument("--store", default=None, help="SQLite file keeping the records (default: memory)")
    parser.add_argument("--rate", type=float, default=0.0, help="write requests per second (0: unlimited)")
    parser.add_argument("--burst", type=int, default=20, help="writes allowed at once before the rate applies")
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.token, args.store, args.rate, args.burst)
    print(f"LISTENING http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
