"""Request templates: the watermark and the run's data interval inside a REST request, in the API's dialect.

A real CRM does not take the watermark as a query parameter of its own: Salesforce wants it inside a
SOQL `WHERE`, Dynamics inside an OData `$filter`, HubSpot inside a JSON search body, Zoho in an
`If-Modified-Since` header. So every string of a REST source's `path`, `params`, `headers` and `body`
may hold placeholders:

    {watermark}            the stored watermark minus `incremental.lag_s` (ISO, milliseconds, Z)
    {watermark:soql}       ...in a named format (see FORMATS)
    {interval_start:date}  the run's data interval (Airflow's data_interval_start / _end)
    {{ and }}              literal braces

The syntax is deliberately tiny: a name and a format, no expressions, nothing evaluated, so a YAML file
can never run code. Placeholders are checked when the mapping is loaded (`check`), so a typo fails the
config with the field's name, not a run at 3 am. With no watermark yet (first run, no
`incremental.initial`) `{watermark}` renders as the epoch start, i.e. "everything".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from etl import state
from etl.state import FORMATS

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_]\w*)(?::([A-Za-z_]\w*))?\}")
NAMES = ("watermark", "interval_start", "interval_end")
class TemplateError(ValueError):
    """A placeholder names an unknown value or format, or a value the run does not have."""


def format_moment(moment: datetime, fmt: str) -> str:
    """`etl.state.format_moment`, the one codec, with the error a template user sees."""
    try:
        return state.format_moment(moment, fmt)
    except ValueError as exc:
        raise TemplateError(str(exc)) from None


def placeholders(value: Any) -> list[tuple[str, str]]:
    """Every (name, format) in a string, or in the strings nested in a dict/list."""
    if isinstance(value, str):
        return [(m.group(1), m.group(2) or "iso") for m in PLACEHOLDER.finditer(value) if m.group(1)]
    if isinstance(value, Mapping):
        return [p for v in value.values() for p in placeholders(v)]
    if isinstance(value, list | tuple):
        return [p for v in value for p in placeholders(v)]
    return []


def check(value: Any) -> None:
    """Raise TemplateError for the first unknown name or format (used by the config schema)."""
    for name, fmt in placeholders(value):
        if name not in NAMES:
            raise TemplateError(
                f"unknown placeholder {{{name}}}; expected one of {', '.join('{' + n + '}' for n in NAMES)} "
                "(write {{ and }} for literal braces)"
            )
        if fmt not in FORMATS:
            raise TemplateError(f"unknown format {{{name}:{fmt}}}; expected one of {', '.join(FORMATS)}")


def render(value: Any, moments: Mapping[str, datetime | None]) -> Any:
    """`value` with every placeholder replaced; dicts and lists are rendered item by item."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: _one(m, moments), value)
    if isinstance(value, Mapping):
        return {k: render(v, moments) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, moments) for v in value]
    return value


def _one(match: re.Match, moments: Mapping[str, datetime | None]) -> str:
    if match.group(0) in ("{{", "}}"):
        return match.group(0)[0]
    name, fmt = match.group(1), match.group(2) or "iso"
    moment = moments.get(name)
    if moment is None:
        raise TemplateError(
            f"the request uses {{{name}}} but this run has no {name.replace('_', ' ')} "
            "(run it from Airflow, which gives every run a data interval)"
        )
    return format_moment(moment, fmt)
