"""Start a demo source server (CRM, HR, ...) as a subprocess and stop it again.

Tests, `make demo` and benchmarks need the demo systems as real processes on real ports, so that
extraction code goes through sockets, keep-alive and dropped connections exactly as in production. Every
demo server follows one convention, which is all this module relies on: it takes `--port 0` and prints
`LISTENING http://host:port` as its first stdout line once it accepts connections.

    with start_demo_server("crm", seed=42, scale=0.1) as srv:
        requests.get(f"{srv.url}/crm/v3/objects/contacts", headers={"Authorization": "Bearer demo-token"})
        srv.admin("mutate", {"fraction": 0.05})
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

_LISTENING = "LISTENING "


@dataclass
class DemoServer:
    url: str  # e.g. "http://127.0.0.1:54321"
    process: subprocess.Popen

    def admin(self, path: str, json: Any = None, timeout: float = 60) -> Any:
        """GET an admin endpoint, or POST `json` to it: admin("stats"), admin("mutate", {"new": 5})."""
        url = f"{self.url}{path if path.startswith('/') else '/_admin/' + path}"
        response = requests.request("GET" if json is None else "POST", url, json=json, timeout=timeout)
        response.raise_for_status()
        return response.json()


def demo_env() -> dict[str, str]:
    """The environment with the project root on PYTHONPATH: `demo` is not part of the installed package."""
    root = str(Path(__file__).resolve().parents[1])
    paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def module_for(name: str) -> str:
    """"crm" -> "demo.crm_server"; a dotted name is taken as the module itself."""
    return name if "." in name else f"demo.{name}_server"


def command_line(name: str, extra_args: Sequence[str] = (), **options: Any) -> list[str]:
    """The command line; each option becomes a flag: scale=0.1 -> --scale 0.1, verbose=True -> --verbose."""
    args = [sys.executable, "-m", module_for(name), "--port", "0"]
    for option, value in options.items():
        if value is None or value is False:
            continue
        args.append(f"--{option.replace('_', '-')}")
        if value is not True:
            args.append(str(value))
    return [*args, *extra_args]


@contextmanager
def start_demo_server(name: str, *, extra_args: Sequence[str] = (), timeout: float = 30,
                      **options: Any) -> Iterator[DemoServer]:
    """Run demo server `name` until the block ends; its stderr is kept and shown if it fails to start."""
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command_line(name, extra_args, **options), stdout=subprocess.PIPE,
                                   stderr=stderr, text=True, env=demo_env())
        try:
            yield DemoServer(_wait_listening(process, stderr, timeout), process)
        finally:
            _stop(process)


def _wait_listening(process: subprocess.Popen, stderr: IO[bytes], timeout: float) -> str:
    """The URL from the server's LISTENING line, or an error carrying its stderr."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline and process.poll() is None:
            if selector.select(timeout=0.1):
                line = process.stdout.readline()
                if line.startswith(_LISTENING):
                    return line[len(_LISTENING):].strip()
                if not line:  # stdout closed: the process is exiting
                    break
    _stop(process)
    stderr.seek(0)
    raise RuntimeError(f"demo server {process.args!r} did not start (exit code {process.returncode}):\n"
                       f"{stderr.read().decode(errors='replace')[-4000:]}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within five seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout:
        process.stdout.close()
