"""Mapping a raw (all-text) batch: casts, normalisers, derive, lookup, filters, extras, errors."""

from __future__ import annotations

import datetime as dt
import decimal

import orjson
import pyarrow as pa
import pytest

from etl.config.schema import Column, Entity
from etl.transform.cast import cast_column
from etl.transform.mapping import ERRORS, EXTRAS, ROW_HASH, map_batch
from etl.transform.pii import protect


def entity(columns: dict, filters=(), extras="keep") -> Entity:
    return Entity.model_validate({
        "system": "t", "entity": "e", "primary_key": ["id"], "extras": extras, "filters": list(filters),
        "source": {"kind": "rest", "connection": "c", "path": "/x"}, "columns": columns,
    })


def cast(values, **col):
    typed, bad = cast_column(pa.array(values, pa.string()), Column(**col))
    return typed.to_pylist(), bad.to_pylist()


def test_integer_and_float_cast_flag_bad_values():
    assert cast([" 12", "-3", "x1", None], type="integer") == ([12, -3, None, None], [False, False, True, False])
    assert cast(["1.5", "1e3", "abc"], type="float") == ([1.5, 1000.0, None], [False, False, True])


def test_decimal_rounds_half_up_and_rejects_overflow():
    values, bad = cast(["12.345", "-0.005", "99999", "1,000"], type="decimal(6,2)")
    assert values == [decimal.Decimal("12.35"), decimal.Decimal("-0.01"), None, None]
    assert bad == [False, False, True, True]


def test_boolean_from_yes_no_y_n_1_0():
    values, bad = cast(["Y", "no", "1", "false", "maybe", None], type="boolean")
    assert values == [True, False, True, False, None, None]
    assert bad == [False, False, False, False, True, False]


def test_dates_in_several_formats_become_one_type():
    values, bad = cast(["2026-03-01", "03/01/2026", "1 Mar 2026", "1772323200000", "31/31/2026"],
                       type="date", formats=["%Y-%m-%d", "%m/%d/%Y", "%d %b %Y", "epoch_ms"])
    assert values[:4] == [dt.date(2026, 3, 1)] * 4
    assert bad == [False, False, False, False, True]


def test_timestamps_are_converted_to_utc():
    values, _ = cast(["2024-01-01T10:00:00+02:00", "2024-01-01T08:00:00.000Z", "2024-01-01 09:00:00"],
                     type="timestamp", formats=["iso"], timezone="Europe/Berlin")
    assert values == [dt.datetime(2024, 1, 1, 8, 0)] * 3


def test_strftime_format_uses_the_column_timezone():
    values, _ = cast(["17.06.1987 09:00"], type="timestamp", formats=["%d.%m.%Y %H:%M"], timezone="Europe/Berlin")
    assert values == [dt.datetime(1987, 6, 17, 7, 0)]


def test_map_batch_renames_normalises_derives_and_keeps_extras():
    raw = pa.table({
        "id": ["1", "2"],
        "properties.email": ["  Jane.Doe@X.COM ", ""],
        "properties.phone": ["(030) 1234567", "+1 415 555 0100"],
        "properties.country": ["Germany", "USA"],
        "properties.first": ["Jane", None],
        "properties.last": ["Doe", "Roe"],
        "properties.tier": ["g", "S"],
        "properties.custom_x": ["42", None],
    })
    e = entity({
        "id": {},
        "email": {"source": "properties.email", "normalise": ["email"]},
        "phone": {"source": "properties.phone", "normalise": ["phone_e164"], "phone_region_from": "country"},
        "country": {"source": "properties.country"},
        "name": {"derive": {"concat": ["first", "= ", "last"]}},
        "first": {"source": "properties.first"},
        "last": {"source": "properties.last"},
        "tier": {"source": "properties.tier", "lookup": {"values": {"g": "gold", "s": "silver"}}},
    })
    out = map_batch(raw, e).table
    assert out["email"].to_pylist() == ["jane.doe@x.com", None]
    assert out["phone"].to_pylist() == ["+49301234567", "+14155550100"]
    assert out["name"].to_pylist() == ["Jane Doe", "Roe"]
    assert out["tier"].to_pylist() == ["gold", "silver"]
    assert [orjson.loads(x) if x else None for x in out[EXTRAS].to_pylist()] == [{"properties.custom_x": "42"}, None]
    assert out[ERRORS].to_pylist() == [None, None]


def test_cast_failure_is_reported_with_value_and_column():
    raw = pa.table({"id": ["1", "2"], "amount": ["10.5", "ten"], "when": ["2024-01-01", "soon"]})
    e = entity({"id": {}, "amount": {"type": "float"}, "when": {"type": "date", "formats": ["%Y-%m-%d"]}})
    errors = map_batch(raw, e).table[ERRORS].to_pylist()
    assert errors[0] is None
    assert "cast(amount): 'ten'" in errors[1] and "cast(when): 'soon'" in errors[1]


def test_filters_count_what_they_drop():
    raw = pa.table({"id": ["1", "2", "3", "4"], "archived": ["false", "true", "false", None],
                    "src": ["web", "web", "fair", "web"]})
    e = entity({"id": {}, "archived": {"type": "boolean"}, "src": {}},
               filters=[{"column": "archived", "op": "eq", "value": False},
                        {"column": "src", "op": "in", "values": ["web"]}])
    result = map_batch(raw, e)
    assert result.table["id"].to_pylist() == ["1"]
    assert result.filtered == 3


def test_row_hash_changes_only_with_content():
    e = entity({"id": {}, "v": {}})
    a = map_batch(pa.table({"id": ["1", "2"], "v": ["x", "y"]}), e).table[ROW_HASH].to_pylist()
    b = map_batch(pa.table({"id": ["1", "2"], "v": ["x", "z"]}), e).table[ROW_HASH].to_pylist()
    assert a[0] == b[0] and a[1] != b[1]


def test_missing_source_field_becomes_null_not_an_error():
    out = map_batch(pa.table({"id": ["1"]}), entity({"id": {}, "gone": {"type": "integer"}})).table
    assert out["gone"].to_pylist() == [None] and out[ERRORS].to_pylist() == [None]


@pytest.mark.parametrize(("policy", "expected"), [("mask", "j***@x.com"), ("drop", None)])
def test_pii_policies(policy, expected):
    e = entity({"id": {}, "email": {"pii": policy}})
    out = protect(pa.table({"id": ["1"], "email": ["jane@x.com"]}), e)
    if expected is None:
        assert "email" not in out.column_names
    else:
        assert out["email"].to_pylist() == [expected]


def test_pii_hash_is_stable_and_joinable():
    e = entity({"id": {}, "email": {"pii": "hash"}})
    out = protect(pa.table({"id": ["1", "2"], "email": ["a@x.com", "a@x.com"]}), e)["email"].to_pylist()
    assert out[0] == out[1] and len(out[0]) == 64 and "a@x.com" not in out[0]
