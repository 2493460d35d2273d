"""Vendor-shaped CRM API servers for the preset tests (not part of the product).

`start_vendor(crm, monkeypatch)` serves one of them on 127.0.0.1 over a fresh `Store` and sets the
connection a user would set, `AIRFLOW_CONN_<CRM>_API=http://:<token>@127.0.0.1:<port>`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.helpers.http_server import serve

from .base import VendorApi
from .dynamics365 import Dynamics365Api
from .hubspot import HubspotApi
from .pipedrive import PipedriveApi
from .salesforce import SalesforceApi
from .store import Store
from .zoho import ZohoApi

TOKEN = "preset-test-token"
VENDORS: dict[str, type[VendorApi]] = {"salesforce": SalesforceApi, "hubspot": HubspotApi,
                                     "dynamics365": Dynamics365Api, "pipedrive": PipedriveApi,
                                     "zoho": ZohoApi}


@dataclass
class Vendor:
    store: Store
    api: VendorApi
    url: str

    def full_read(self, table: str) -> bool:
        """Objects the vendor offers no change filter for (read whole on every run)."""
        return table in getattr(self.api, "FULL_READ", ())


@contextmanager
def start_vendor(crm: str, monkeypatch, **options) -> Iterator[Vendor]:
    store = Store()
    api = VENDORS[crm](store, TOKEN, **options)
    with serve(api) as srv:
        monkeypatch.setenv(f"AIRFLOW_CONN_{crm.upper()}_API", f"http://:{TOKEN}@{srv.url.removeprefix('http://')}")
        yield Vendor(store, api, srv.url)
