"""A real HTTP server in a thread, scripted by a plain function, for testing REST clients.

Tests describe the API they need as `app(request) -> Reply` and get a base URL on 127.0.0.1; the
server speaks HTTP/1.1 with keep-alive like production APIs do, and can misbehave on demand: a reply
with `drop=True` closes the socket without answering, `truncate=True` sends half a body and closes,
`trickle_s` sends the body one byte at a time with that pause (each byte well before a read timeout).
Every request is recorded (with the client's port, so tests can count connections).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    client_port: int


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without a response
    truncate: bool = False  # announce the full length, send half, close
    trickle_s: float = 0.0  # > 0: send the body byte by byte, pausing this long after each


App = Callable[[Request], Reply]


@dataclass
class Server:
    url: str
    requests: list[Request]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid the 40 ms delayed-ACK stall
    server: _AppServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            self.command,
            parts.path,
            dict(parse_qsl(parts.query, keep_blank_values=True)),
            dict(self.headers.items()),
            self.rfile.read(length) if length else b"",
            self.client_address[1],
        )
        self.server.recorded.append(request)
        self._send(self.server.app(request))

    def _send(self, reply: Reply) -> None:
        if reply.drop:
            self.close_connection = True
            return
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in {"Content-Type": "application/json", **reply.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if reply.trickle_s:
            self._trickle(body, reply.trickle_s)
            return
        self.wfile.write(body[: len(body) // 2] if reply.truncate else body)
        self.close_connection = reply.truncate

    def _trickle(self, body: bytes, pause: float) -> None:
        """Until the body is sent or the client hangs up (a client that gave up closes its socket)."""
        try:
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                time.sleep(pause)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass


class _AppServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: App) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app = app
        self.recorded: list[Request] = []


@contextmanager
def serve(app: App, tls: tuple[str, str] | None = None) -> Iterator[Server]:
    """Run `app` behind a real HTTP server for the duration of the `with` block; `tls`: (certificate
    file, key file) makes it HTTPS."""
    httpd = _AppServer(app)
    scheme = "http"
    if tls is not None:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Server(f"{scheme}://127.0.0.1:{httpd.server_address[1]}", httpd.recorded)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def script(*replies: Reply | Callable[[Request], Reply]) -> App:
    """An app answering the n-th request with the n-th reply (the last one repeats)."""
    calls = {"n": 0}
    lock = threading.Lock()

    def app(request: Request) -> Reply:
        with lock:
            i = min(calls["n"], len(replies) - 1)
            calls["n"] += 1
        reply = replies[i]
        return reply(request) if callable(reply) else reply

    return app
