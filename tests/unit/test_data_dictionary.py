"""The HTML data dictionary: the command writes a page a browser opens, with every layer's tables, the
mapping files' column descriptions and PII notes, and the control tables; docs/warehouse.md lists the
staging and control tables too."""

from __future__ import annotations

from html.parser import HTMLParser

from etl.models.dictionary import main
from etl.models.docs import render


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self._in_title = tag == "title"
        self.ids |= {v for k, v in attrs if k == "id" and v}

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        self.text.append(data)


def test_the_command_writes_a_dictionary_page(tmp_path):
    path = tmp_path / "dictionary.html"
    assert main([str(path)]) == 0
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    text = " ".join(page.text)
    assert page.title == "Data dictionary"
    assert {"staging", "core", "history", "marts", "control"} <= page.ids
    assert {"stg_erp__invoices", "stg_crm__tickets", "fct_deals", "hist_deal_stage", "mart_customer_value",
            "mart_product_associations", "etl_runs", "etl_quarantine"} <= page.ids
    assert "PRODUCT_ISSUE, BILLING_ISSUE, FEATURE_REQUEST or GENERAL_INQUIRY" in text  # a mapping's description
    assert "salted SHA-256 hash" in text  # the CRM contacts' e-mail PII policy
    assert "RFM segment" in text  # a model header's column meaning


def test_warehouse_md_covers_staging_and_control_tables():
    doc = render()
    assert "## Staging tables" in doc and "### `stg_erp__invoices`" in doc
    assert "## Control tables" in doc and "`etl_quarantine`" in doc
