"""Request templates: watermark and data interval rendered in each API's dialect, checked at config load."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from etl.config.schema import RestSource
from etl.sources.rest import _moments, _params
from etl.sources.templating import TemplateError, check, render

T = datetime(2024, 5, 1, 12, 30, 45, 678_900, tzinfo=UTC)


@pytest.mark.parametrize(("template", "expected"), [
    ("{watermark}", "2024-05-01T12:30:45.678Z"),
    ("LastModifiedDate >= {watermark:soql}", "LastModifiedDate >= 2024-05-01T12:30:45Z"),
    ("modifiedon ge {watermark:odata}", "modifiedon ge 2024-05-01T12:30:45Z"),
    ("{watermark:epoch_ms}", "1714566645678"),
    ("{watermark:epoch_s}", "1714566645"),
    ("{watermark:iso_offset}", "2024-05-01T12:30:45+00:00"),
    ("{interval_start:date}..{interval_end:date}", "2024-05-01..2024-05-02"),
    ("{{literal}} {watermark:date}", "{literal} 2024-05-01"),
])
def test_render_formats(template: str, expected: str) -> None:
    moments = {"watermark": T, "interval_start": T, "interval_end": datetime(2024, 5, 2, tzinfo=UTC)}
    assert render(template, moments) == expected


def test_render_walks_nested_bodies_and_keeps_non_strings() -> None:
    body = {"filterGroups": [{"filters": [{"value": "{watermark:epoch_ms}", "n": 3}]}], "limit": 100}
    out = render(body, {"watermark": T})
    assert out == {"filterGroups": [{"filters": [{"value": "1714566645678", "n": 3}]}], "limit": 100}


@pytest.mark.parametrize(("value", "message"), [
    ("{watermrk}", "unknown placeholder {watermrk}"),
    ("{watermark:soqll}", "unknown format {watermark:soqll}"),
])
def test_check_names_the_mistake(value: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        check({"q": value})


def test_a_run_without_interval_names_the_placeholder() -> None:
    with pytest.raises(TemplateError, match=r"uses \{interval_start\} but this run has no interval start"):
        render("{interval_start}", {"interval_start": None})


BASE = {"connection": "x", "path": "/q", "incremental": {"cursor_field": "LastModifiedDate"}}


@pytest.mark.parametrize(("update", "message"), [
    ({"params": {"q": "WHERE x > {watermark:sql}"}}, "params: unknown format"),
    ({"headers": {"If-Modified-Since": "{since}"}}, "headers: unknown placeholder"),
    ({"body": {"a": 1}}, "'body' is sent with method: POST only"),
    ({"params": {"q": "{watermark}"}, "incremental": None}, "'incremental' .* is not set"),
    ({"restart_on": {"status": [400]}}, "restart_on needs the watermark in the request"),
    ({"params": {"q": "{watermark}"}, "restart_on": {}}, "restart_on needs 'status' and/or 'body_contains'"),
    ({"params": {"q": "{watermark}"}, "restart_on": {"status": [503]}}, "restart_on.status 503 is also in retry"),
])
def test_invalid_request_templates_fail_at_load(update: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RestSource.model_validate({**BASE, **update})


def test_first_run_renders_the_epoch_and_later_runs_the_lagged_watermark() -> None:
    cfg = RestSource.model_validate({**BASE, "params": {"q": "SELECT Id FROM Account WHERE LastModifiedDate >= "
                                                            "{watermark:soql}"},
                                     "incremental": {"cursor_field": "LastModifiedDate", "lag_s": 60},
                                     "page_size_param": None})
    assert _params(cfg, _moments(cfg, None, (None, None)))["q"].endswith(">= 1970-01-01T00:00:00Z")
    later = _params(cfg, _moments(cfg, "2024-05-01T12:30:45.000+0000", (None, None)))
    assert later == {"q": "SELECT Id FROM Account WHERE LastModifiedDate >= 2024-05-01T12:29:45Z"}


def test_post_body_template_carries_the_paging_keys() -> None:
    cfg = RestSource.model_validate({**BASE, "method": "POST", "page_size": 50,
                                     "body": {"filters": [{"value": "{watermark:epoch_ms}"}]}})
    params = _params(cfg, _moments(cfg, "1714566645678", (None, None)))
    assert params == {"filters": [{"value": "1714566645678"}], "limit": 50}
