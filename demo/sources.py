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
    from demo.process import start_demo_server

    token = os.environ.get("DEMO_CRM_TOKEN", "demo-token")
    scale = float(os.environ.get("DEMO_SCALE", "1.0"))
    with start_demo_server("crm", seed=42, scale=scale, token=token) as srv:
        yield {"AIRFLOW_CONN_CRM_API": f"http://:{token}@{srv.url.removeprefix('http://')}"}


@contextlib.contextmanager
def hr(workdir: Path) -> Iterator[dict[str, str]]:
    """The demo HR API (page-number paging, HTTP Basic auth) as connection `hr_api`, its write side kept in
    the workdir. HR's Sales department is the CRM's owners and the ERP's reps (demo/company.py)."""
    from demo.process import start_demo_server

    user = os.environ.get("DEMO_HR_USER", "hr")
    password = os.environ.get("DEMO_HR_PASSWORD", "hr-secret")
    rate = os.environ.get("DEMO_WRITE_RATE", "50")
    with start_demo_server("hr", user=user, password=password, store=str(workdir / "hr_writes.sqlite"),
                           rate=rate) as srv:
        yield {"AIRFLOW_CONN_HR_API": f"http://{user}:{password}@{srv.url.removeprefix('http://')}"}


@contextlib.contextmanager
def oa(workdir: Path) -> Iterator[dict[str, str]]:
    """An OA export (and, unless DEMO_OA_BAD=0, its unreadable files) dropped into the OA landing folder,
    and the OA's REST write API (customers, marketing lists) as connection `oa_api`.

    The folder is the one `mappings/oa` reads (under ETL_DATA_DIR), so there is nothing to export. A second
    demo run drops the same files again: the ledger finds them loaded already and records duplicates.
    The write API keeps what it receives in the workdir, so a second demo run finds it there.
    """
    from demo.oa_files import write_oa_drop
    from demo.process import start_demo_server
    from etl.config.loader import load_system, mappings_dir
    from etl.config.schema import FileSource
    from etl.sources.files import landing_dir

    entities = load_system(mappings_dir() / "oa").entities.values()
    landing = landing_dir(next(e.source.landing for e in entities if isinstance(e.source, FileSource)))
    write_oa_drop(landing, seed=42, batch=int(os.environ.get("DEMO_OA_BATCH", "1")),
                  bad=os.environ.get("DEMO_OA_BAD", "1") != "0")
    token = os.environ.get("DEMO_OA_TOKEN", "oa-token")
    rate = os.environ.get("DEMO_WRITE_RATE", "50")
    with start_demo_server("oa", token=token, store=str(workdir / "oa_writes.sqlite"), rate=rate) as srv:
        yield {"AIRFLOW_CONN_OA_API": f"http://:{token}@{srv.url.removeprefix('http://')}"}


@contextlib.contextmanager
def erp(workdir: Path) -> Iterator[dict[str, str]]:
    """The demo ERP (Northwind, invoices, FX rates) as a SQLite file in the workdir, as connection `erp_db`.

    Built only when the file is missing or unreadable, never on every run: changes made since (with
    `erp_db.touch_erp` or `add_orders`) are kept, and a second demo run finds nothing new to load.
    The build itself is deterministic (seeded values and updated_at stamps), so a rebuild changes nothing.
    """
    from demo.erp_db import build_erp, row_counts

    path = (workdir / "erp.sqlite").resolve()
    url = f"sqlite:///{path}"
    try:
        row_counts(url)  # includes sales_orders: an ERP built before outbound syncs is rebuilt
    except Exception:  # missing, empty or half-built: start over
        path.unlink(missing_ok=True)
        build_erp(url, seed=42)
    yield {"AIRFLOW_CONN_ERP_DB": url}


AVAILABLE: dict[str, Starter] = {"crm": crm, "hr": hr, "oa": oa, "erp": erp}


def start(system: str, workdir: Path) -> contextlib.AbstractContextManager[dict[str, str]]:
    return AVAILABLE[system](workdir)
