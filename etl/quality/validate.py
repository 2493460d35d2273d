"""Validate every batch with its entity's GX suite; split the rows into valid and quarantined.

Great Expectations evaluates the suite. This module hands it the batch and turns its results
into two Arrow tables: the rows passing every row-level expectation, and the rows failing one or
more (each row once, with the failed rules and a readable reason). Table-level expectations (row
counts, means, column sets) become messages in `table_failures`.

Row-level means GX returned an `unexpected_index_list` for the expectation: column map, column
pair and multicolumn expectations. GX semantics are kept: they skip nulls, except
`expect_column_values_to_not_be_null`; `expect_column_values_to_be_unique` flags every copy of a
duplicate. A failing row is quarantined even when `mostly` lets the expectation pass; when the
share of failing rows exceeds what `mostly` allows, a table failure is reported as well.

Rows are identified by position: the DataFrame given to GX has the Arrow row order and a
RangeIndex, so GX's index list is the row position, whatever the keys hold (null, duplicated).
Output rows are taken from the input Arrow table, never from pandas, so types and values are the
input's.

Cost: the GX context, datasource, dataframe asset and batch definition are made once per process
and each suite is built once; a batch then costs one GX validator run (GX's fixed cost is about
10 ms per expectation, whatever the batch size) plus the Arrow -> pandas copy of the columns
the suite reads.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from etl.quality.suites import check_suite, referenced_columns, rule_label, to_gx_suite

FAILED_RULE_COLUMN = "_failed_rule"
REASON_COLUMN = "_reason"

_POSITION_KEY = "etl_quality_position"
# COMPLETE gives every failing row; the query string GX would also build is never used.
_RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
# Nullable pandas dtypes, so int64 ids above 2**53 with nulls are not rounded through float64.
_PANDAS_DTYPES: dict[pa.DataType, Any] = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}
_SHOWN_SET_VALUES = 10


@dataclass
class BatchValidation:
    valid: pa.Table  # rows passing every row-level expectation, input schema
    quarantined: pa.Table  # failing rows once each, input schema + _failed_rule, _reason
    table_failures: list[str]  # failed table-level expectations, readable
    seconds: float  # time spent in validate_batch


@dataclass(frozen=True)
class _PreparedSuite:
    gx_suite: Any
    expectations: list[dict]
    labels: list[str]
    columns: list[str] | None  # columns GX needs to see; None means all


_lock = threading.Lock()  # one batch at a time: GX keeps the batch under one fixed id
_batch_definition: Any = None
_prepared_suites: dict[str, _PreparedSuite] = {}


def validate_batch(table: pa.Table, suite: dict, key_columns: list[str],
                   hidden: Collection[str] = ()) -> BatchValidation:
    """Run `suite` on `table` with GX; return valid rows, quarantined rows and table failures.

    `hidden`: personal columns (a pii policy other than keep) whose values a reason never quotes."""
    started = time.perf_counter()
    missing = [column for column in key_columns if column not in table.column_names]
    if missing:
        raise ValueError(f"key column(s) {missing} are not in the batch; columns: {table.column_names}")
    prepared = _prepare(suite)
    results = _run_gx(_to_pandas(table, prepared.columns), prepared.gx_suite)

    failed_rows: dict[int, list[tuple[str, str]]] = {}
    table_failures: list[str] = []
    for result in sorted(results, key=_position):
        position = _position(result)
        expectation, label = prepared.expectations[position], prepared.labels[position]
        error = _exception_message(result.exception_info)
        if error:
            table_failures.append(f"{label}: could not be evaluated: {error}")
            continue
        rows = result.result.get("unexpected_index_list")
        if rows is None:
            if not result.success:
                table_failures.append(_table_message(label, expectation, result.result))
            continue
        _record_rows(failed_rows, table, expectation, label, np.asarray(rows, dtype=np.int64), hidden)
        if not result.success and not rows:
            table_failures.append(_table_message(label, expectation, result.result))
        elif not result.success and expectation["kwargs"].get("mostly", 1) < 1:
            table_failures.append(_mostly_message(label, expectation, result.result))

    valid, quarantined = _split(table, failed_rows)
    return BatchValidation(valid, quarantined, table_failures, time.perf_counter() - started)


def _gx_batch_definition() -> Any:
    """The process-wide GX objects, made on first use (importing GX takes seconds): an ephemeral
    context, a pandas data source, a dataframe asset and its whole-dataframe batch definition.
    Only GX's public API is used (`get_context`, `data_sources`, `BatchDefinition.get_batch`,
    `Batch.validate`), so a minor GX release cannot silently change what runs."""
    global _batch_definition
    with _lock:
        if _batch_definition is None:
            import great_expectations as gx

            context = gx.get_context(mode="ephemeral")
            # no tqdm bars in task logs: the validator reads this public context variable as a mapping
            # (its declared type, ProgressBarsConfig, lives in a module GX does not make public)
            context.variables.progress_bars = {"globally": False,  # type: ignore[assignment]
                                               "metric_calculations": False}
            asset = context.data_sources.add_pandas("etl_quality").add_dataframe_asset("batch")
            _batch_definition = asset.add_batch_definition_whole_dataframe("whole batch")
        return _batch_definition


def _prepare(suite: dict) -> _PreparedSuite:
    """Check and build a suite once; later batches with an equal suite dict reuse it."""
    key = json.dumps(suite, sort_keys=True, default=str)
    prepared = _prepared_suites.get(key)
    if prepared is None:
        checked = check_suite(suite, source=f"suite {suite.get('name', '?')!r}")
        expectations = checked["expectations"]
        needed = [referenced_columns(e) for e in expectations]
        columns = None if any(c is None for c in needed) else [c for cols in needed for c in cols or []]
        _gx_batch_definition()  # the suite is built in GX's world; make sure it is set up
        prepared = _PreparedSuite(
            gx_suite=to_gx_suite(checked, _POSITION_KEY),
            expectations=expectations,
            labels=[rule_label(e) for e in expectations],
            columns=columns,
        )
        _prepared_suites[key] = prepared
    return prepared


def _to_pandas(table: pa.Table, columns: list[str] | None) -> pd.DataFrame:
    """The columns GX needs, in row order with a RangeIndex (row position = index)."""
    if columns is not None:
        # A referenced column missing from the batch stays missing: GX reports it.
        table = table.select([c for c in dict.fromkeys(columns) if c in table.column_names])
    # ignore_metadata: a table made from a sliced DataFrame would otherwise get its old index
    # back (RangeIndex(5, 8)), and GX's positions would point at the wrong rows.
    return table.to_pandas(types_mapper=_PANDAS_DTYPES.get, ignore_metadata=True)


def _run_gx(frame: pd.DataFrame, gx_suite: Any) -> list[Any]:
    """`Batch.validate` keeps no result store (ValidationDefinition.run would keep every batch's
    results in memory for the life of the process)."""
    batch_definition = _gx_batch_definition()
    with _lock:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        return list(batch.validate(gx_suite, result_format=_RESULT_FORMAT).results)


def _position(result: Any) -> int:
    return int(result.expectation_config.meta[_POSITION_KEY])


def _exception_message(info: dict | None) -> str | None:
    """GX reports either one exception or, per failed metric, a dict of them."""
    if not info:
        return None
    if "raised_exception" in info:
        return (info.get("exception_message") or "unknown error") if info["raised_exception"] else None
    messages = {v.get("exception_message") for v in info.values() if isinstance(v, dict)}
    return "; ".join(sorted(m for m in messages if m)) or "unknown error"


def _record_rows(
    failed_rows: dict[int, list[tuple[str, str]]],
    table: pa.Table,
    expectation: dict,
    label: str,
    rows: np.ndarray,
    hidden: Collection[str] = (),
) -> None:
    if rows.size == 0:
        return
    columns = _row_columns(expectation)
    indices = pa.array(rows)
    values = [[_Hidden.of(v) if c in hidden else v for v in table.column(c).take(indices).to_pylist()]
              for c in columns]
    describe = _describer(expectation["type"], expectation["kwargs"], columns)
    for row, *row_values in zip(rows.tolist(), *values, strict=True):
        failed_rows.setdefault(row, []).append((label, describe(row_values)))


def _row_columns(expectation: dict) -> list[str]:
    kwargs = expectation["kwargs"]
    if "column" in kwargs:
        return [kwargs["column"]]
    if "column_A" in kwargs:
        return [kwargs["column_A"], kwargs["column_B"]]
    return list(kwargs["column_list"])


def _split(table: pa.Table, failed_rows: dict[int, list[tuple[str, str]]]) -> tuple[pa.Table, pa.Table]:
    if not failed_rows:
        empty = table.schema.append(pa.field(FAILED_RULE_COLUMN, pa.string()))
        return table, empty.append(pa.field(REASON_COLUMN, pa.string())).empty_table()
    rows = np.fromiter(sorted(failed_rows), dtype=np.int64, count=len(failed_rows))
    keep = np.ones(table.num_rows, dtype=bool)
    keep[rows] = False
    entries = [failed_rows[row] for row in rows.tolist()]
    quarantined = table.take(pa.array(rows))
    quarantined = quarantined.append_column(
        FAILED_RULE_COLUMN, pa.array(["; ".join(label for label, _ in e) for e in entries], pa.string())
    )
    quarantined = quarantined.append_column(
        REASON_COLUMN, pa.array(["; ".join(reason for _, reason in e) for e in entries], pa.string())
    )
    return table.filter(pa.array(keep)), quarantined


def _table_message(label: str, expectation: dict, result: dict) -> str:
    expected = ", ".join(
        f"{k}={v}" for k, v in expectation["kwargs"].items() if v is not None and k not in ("column",)
    )
    details = {k: v for k, v in result.items() if k != "observed_value"}
    observed = result.get("observed_value", details or None)
    return f"{label}: observed {_show(observed)}, expected {expected or 'success'}"


def _mostly_message(label: str, expectation: dict, result: dict) -> str:
    percent = result.get("unexpected_percent") or 0.0
    mostly = expectation["kwargs"].get("mostly", 1.0)
    return (
        f"{label}: {percent:.2f}% of checked rows fail ({result.get('unexpected_count')} rows), "
        f"mostly={mostly} allows at most {(1 - mostly) * 100:.2f}%"
    )


def _describer(exp_type: str, kwargs: dict, columns: list[str]) -> Callable[[list[Any]], str]:
    """The reason text for one failing row of a rule, given the row's values of `columns`."""
    column = columns[0]
    if exp_type == "expect_column_values_to_not_be_null":
        return lambda values: f"{column} is null"
    if exp_type in ("expect_column_value_lengths_to_be_between", "expect_column_value_lengths_to_equal"):
        wanted = _bounds(kwargs) if exp_type.endswith("between") else f"{kwargs.get('value')}"
        return lambda values: f"{column} {_show(values[0])} has length {_length(values[0])}, not {wanted}"
    if exp_type == "expect_column_pair_values_to_be_equal":
        return lambda values: f"{column} {_show(values[0])} differs from {columns[1]} {_show(values[1])}"
    if len(columns) > 1:
        suffix = _ROW_SUFFIXES.get(exp_type, f"fails {exp_type}")
        return lambda values: f"({', '.join(columns)}) {_show(tuple(values))} {suffix}"
    suffix = _suffix(exp_type, kwargs)
    return lambda values: f"{column} {_show(values[0])} {suffix}"


def _suffix(exp_type: str, kwargs: dict) -> str:
    """What is wrong with a value, for single-column rules: `<column> <value> <suffix>`."""
    match exp_type:
        case "expect_column_values_to_match_regex":
            return f"does not match {kwargs.get('regex', '(?s).*')}"
        case "expect_column_values_to_not_match_regex":
            return f"matches {kwargs.get('regex')}"
        case "expect_column_values_to_match_regex_list":
            return f"does not match {kwargs.get('match_on', 'any')} of {kwargs.get('regex_list')}"
        case "expect_column_values_to_not_match_regex_list":
            return f"matches one of {kwargs.get('regex_list')}"
        case "expect_column_values_to_be_between":
            return f"is not {_bounds(kwargs)}"
        case "expect_column_values_to_be_in_set":
            return f"is not in {_show_set(kwargs.get('value_set'))}"
        case "expect_column_values_to_not_be_in_set":
            return f"is in the forbidden set {_show_set(kwargs.get('value_set'))}"
        case "expect_column_values_to_match_strftime_format":
            return f"does not match format {kwargs.get('strftime_format')}"
        case "expect_column_values_to_be_dateutil_parseable":
            return "is not a parseable date"
        case "expect_column_values_to_be_json_parseable":
            return "is not valid JSON"
    return _ROW_SUFFIXES.get(exp_type, f"fails {exp_type}")


_ROW_SUFFIXES = {
    "expect_column_values_to_be_null": "is not null",
    "expect_column_values_to_be_unique": "is not unique in the batch",
    "expect_compound_columns_to_be_unique": "is not unique in the batch",
    "expect_select_column_values_to_be_unique_within_record": "repeats a value within the row",
}


class _Hidden(str):
    """A personal value in a reason: shown as its length only."""

    length: int

    @classmethod
    def of(cls, value: Any) -> Any:
        if value is None:
            return None
        shown = cls(f"<personal data, {len(str(value))} characters>")
        shown.length = len(str(value))
        return shown


def _length(value: Any) -> int:
    return value.length if isinstance(value, _Hidden) else len(str(value))


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, _Hidden):
        return str(value)
    if isinstance(value, str | bytes):
        return repr(value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return str(value)


def _show_set(values: Any) -> str:
    values = list(values or [])
    shown = ", ".join(_show(v) for v in values[:_SHOWN_SET_VALUES])
    more = f", ... {len(values)} values in all" if len(values) > _SHOWN_SET_VALUES else ""
    return f"[{shown}{more}]"


def _bounds(kwargs: dict) -> str:
    parts = []
    if kwargs.get("min_value") is not None:
        parts.append(f"{'>' if kwargs.get('strict_min') else '>='} {kwargs['min_value']}")
    if kwargs.get("max_value") is not None:
        parts.append(f"{'<' if kwargs.get('strict_max') else '<='} {kwargs['max_value']}")
    return " and ".join(parts)
