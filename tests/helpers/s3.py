"""A local S3-compatible server (moto's server mode) as a separate process, for ETL_STAGING_URL=s3://...

`moto_s3()` starts it on a free loopback port in its own process group, creates the bucket, and yields the
environment a process needs to use it (endpoint, dummy keys, region). The caller decides where that
environment goes (os.environ for in-process tests, Airflow components' env for the distributed test).

s3fs caches filesystem instances and directory listings per process; a cached instance would keep the
endpoint and session of an earlier test. Every client made here skips the instance cache, and the
caches are cleared when the server stops.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

START_S = 90.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def s3_env(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1"}


def filesystem(endpoint: str):
    """A fresh s3fs client on the server (never a cached instance of another test)."""
    import s3fs

    return s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint, skip_instance_cache=True,
                             use_listings_cache=False)


def keys(endpoint: str, prefix: str) -> list[str]:
    """Every object under `bucket/prefix`, asked afresh."""
    fs = filesystem(endpoint)
    try:
        return sorted(fs.find(prefix))
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def moto_s3(log: Path, bucket: str = "etl-staging") -> Iterator[dict[str, str]]:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + START_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto server exited ({proc.returncode}): {log.read_text()[-2000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{endpoint}/moto-api/", timeout=2).status_code < 500:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto server not answering on {endpoint}: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        filesystem(endpoint).mkdir(bucket)
        yield {**s3_env(endpoint), "ETL_TEST_S3_BUCKET": bucket}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        clear_caches()


def clear_caches() -> None:
    with contextlib.suppress(ImportError):
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
