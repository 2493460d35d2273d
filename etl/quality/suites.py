"""Expectation suites: load GX 1.x JSON files and check them before any data is read.

A suite file lives in `expectations/<entity>.json` and has the GX 1.x ("V1") shape::

    {"name": "stg_crm__contacts",
     "meta": {...},                                  # optional, ignored
     "expectations": [{"type": "expect_column_values_to_not_be_null",
                       "kwargs": {"column": "id"},
                       "meta": {...}}]}              # meta optional

Every expectation is built once with Great Expectations itself, so an unknown type, a missing
`column` or a misspelt kwarg fails here with the file and the expectation named, instead of
GX silently dropping the expectation (what `ExpectationSuite(...)` does with an invalid one).
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import os
import pathlib
from typing import Any

# etl/quality/suites.py -> project root; ETL_EXPECTATIONS_DIR overrides (tests, deployments).
_DEFAULT_DIR = pathlib.Path(__file__).resolve().parents[2] / "expectations"

# Keys GX 1.x writes when it exports a suite; anything else is most likely a typo.
_SUITE_KEYS = {"name", "expectations", "meta", "id", "notes", "suite_parameters"}
_EXPECTATION_KEYS = {"type", "kwargs", "meta", "id", "notes", "description", "severity", "rendered_content"}


class SuiteError(ValueError):
    """A suite file or dict that cannot be used; the message names the file and the fix."""


def suite_path(name: str) -> pathlib.Path:
    """The file of the suite `name`: `expectations/<name>.json` (named after the table it guards)."""
    return pathlib.Path(os.environ.get("ETL_EXPECTATIONS_DIR", _DEFAULT_DIR)) / f"{name}.json"


def load_suite(path: pathlib.Path) -> dict:
    """Read and check one suite file; return the suite as a plain dict."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read suite file ({exc.strerror})") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return check_suite(raw, source=str(path))


def check_suite(raw: Any, source: str = "<suite>") -> dict:
    """Check a suite dict; return a normalised copy (every expectation has `meta`)."""
    if not isinstance(raw, dict):
        raise SuiteError(f"{source}: a suite must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _SUITE_KEYS)
    if unknown:
        raise SuiteError(f"{source}: unknown top-level key(s) {unknown}; allowed: {sorted(_SUITE_KEYS)}")
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise SuiteError(f"{source}: 'name' must be a non-empty string (the table the suite guards)")
    expectations = raw.get("expectations")
    if not isinstance(expectations, list):
        raise SuiteError(f"{source}: 'expectations' must be a list of {{type, kwargs, meta}} objects")
    suite = copy.deepcopy(raw)
    suite.setdefault("meta", {})
    suite["expectations"] = [_check_expectation(i, exp, source) for i, exp in enumerate(expectations)]
    return suite


def rule_label(expectation: dict) -> str:
    """`expect_x(column)`: how a rule is named in quarantine rows and failure messages."""
    columns = _columns(expectation["kwargs"])
    return f"{expectation['type']}({', '.join(map(str, columns))})" if columns else expectation["type"]


def referenced_columns(expectation: dict) -> list[str] | None:
    """Columns an expectation reads; None when it may read any column (table-level, row_condition)."""
    kwargs = expectation["kwargs"]
    if kwargs.get("row_condition"):
        return None
    columns = _columns(kwargs)
    if columns:
        return columns
    return [] if expectation["type"].startswith("expect_table_row_count") else None


def to_gx_suite(suite: dict, position_key: str) -> Any:
    """Build a GX `ExpectationSuite`; each expectation's meta gets its position under `position_key`.

    GX returns results in no fixed order, the position lets the caller map them back.
    """
    import great_expectations as gx

    expectations = []
    for position, expectation in enumerate(suite["expectations"]):
        meta = {**expectation.get("meta", {}), position_key: position}
        expectations.append(_expectation_classes()[expectation["type"]](**expectation["kwargs"], meta=meta))
    return gx.ExpectationSuite(name=suite["name"], expectations=expectations)


@functools.cache
def _expectation_classes() -> dict[str, Any]:
    """GX's public expectation classes (`gx.expectations.Expect...`) by the type name suites use."""
    import great_expectations as gx

    found = (getattr(gx.expectations, name) for name in dir(gx.expectations) if name.startswith("Expect"))
    return {cls.expectation_type: cls for cls in found
            if isinstance(cls, type) and issubclass(cls, gx.expectations.Expectation)}


def _columns(kwargs: dict) -> list[str]:
    columns = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
    return columns + list(kwargs.get("column_list") or [])


def _check_expectation(index: int, exp: Any, source: str) -> dict:
    where = f"{source}: expectations[{index}]"
    if not isinstance(exp, dict):
        raise SuiteError(f"{where}: must be an object with 'type' and 'kwargs', got {type(exp).__name__}")
    if "expectation_type" in exp and "type" not in exp:
        raise SuiteError(f"{where}: 'expectation_type' is the GX 0.x key; GX 1.x suites use 'type'")
    exp_type = exp.get("type")
    if not isinstance(exp_type, str) or not exp_type:
        raise SuiteError(f"{where}: 'type' must name the expectation, e.g. expect_column_values_to_be_unique")
    where = f"{where} ({exp_type})"
    unknown = sorted(set(exp) - _EXPECTATION_KEYS)
    if unknown:
        raise SuiteError(f"{where}: unknown key(s) {unknown}; an expectation has type, kwargs and meta")
    kwargs = exp.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise SuiteError(f"{where}: 'kwargs' must be an object")
    if not isinstance(exp.get("meta", {}), dict):
        raise SuiteError(f"{where}: 'meta' must be an object")
    _build_with_gx(where, exp_type, kwargs)
    return {**copy.deepcopy(exp), "kwargs": kwargs, "meta": exp.get("meta", {})}


def _build_with_gx(where: str, exp_type: str, kwargs: dict) -> None:
    """Let GX build the expectation: its public classes and their pydantic models are the schema."""
    classes = _expectation_classes()
    if exp_type not in classes:
        close = difflib.get_close_matches(exp_type, list(classes), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise SuiteError(f"{where}: unknown expectation type{hint}")
    try:
        classes[exp_type](**kwargs)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise SuiteError(f"{where}: {_describe_kwarg_errors(exc)}") from None
    except TypeError as exc:  # e.g. a kwarg GX's constructor takes by name only (meta, notes)
        raise SuiteError(f"{where}: {exc}") from None


def _describe_kwarg_errors(exc: ValueError) -> str:
    errors = exc.errors() if hasattr(exc, "errors") else None
    if not errors:
        return str(exc)
    messages: dict[str, str] = {}
    for error in errors:
        name = ".".join(str(part) for part in error["loc"])
        if name in messages:  # a Union field reports one error per member; the first is enough
            continue
        if error["type"] == "value_error.missing":
            messages[name] = f"missing required kwarg '{name}'"
        elif error["type"] == "value_error.extra":
            messages[name] = f"unknown kwarg '{name}'"
        elif name == "__root__":
            messages[name] = error["msg"]
        else:
            messages[name] = f"kwarg '{name}': {error['msg']}"
    return "; ".join(messages.values())
