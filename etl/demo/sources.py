"""Start each demo source system and say how the pipelines reach it (Airflow connection env vars).

Used by `make demo`, the UI launcher and the tests, so the demo systems are wired in one place.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

Starter = Callable[[Path], contextlib.AbstractContextManager[dict[str, str]]]


@contextlib.contextmanager
def crm(workdir: Path) -> Iterator[dict[str, str]]:
    from etl.demo.process import start_demo_server

    token = os.environ.get("DEMO_CRM_TOKEN", "demo-token")
    scale = float(os.environ.get("DEMO_SCALE", "1.0"))
    with start_demo_server("crm", seed=42, scale=scale, token=token) as srv:
        yield {"AIRFLOW_CONN_CRM_API": f"http://:{token}@{srv.url.removeprefix('http://')}"}


AVAILABLE: dict[str, Starter] = {"crm": crm}


def start(system: str, workdir: Path) -> contextlib.AbstractContextManager[dict[str, str]]:
    return AVAILABLE[system](workdir)
