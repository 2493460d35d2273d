"""Conversions declared in a mapping: currency (as-of rate, rate and date recorded, missing rate ->
quarantine reason) and units, checked against figures worked out by hand; plus their config errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
from pydantic import ValidationError

from etl.config.loader import MappingError, load_system
from etl.config.schema import Entity
from etl.load.rates import read_rates
from etl.transform.conversions import ConversionError, rate_table
from etl.transform.mapping import ERRORS, map_batch

FRI, MON = dt.date(1997, 5, 16), dt.date(1997, 5, 19)
RATES_SPEC = {"table": "stg_t__fx", "date": "rate_date", "currency": "currency", "rate": "rate_to_usd"}


def rates():
    # BRL has no rate on Monday 1997-05-19 (as in the demo ERP)
    return rate_table([FRI, MON, FRI, MON], ["EUR", "EUR", "BRL", "GBP"],
                      ["1.100000", "1.2", 0.95, "1.555555"])


def entity(max_age_days: int = 0, **extra) -> Entity:
    return Entity.model_validate({
        "system": "t", "entity": "orders", "primary_key": ["id"],
        "source": {"kind": "sql", "connection": "c", "table": "orders"},
        "columns": {"id": {"type": "integer"}, "amount": {"type": "decimal(12,2)"}, "currency": {},
                    "day": {"type": "date"}},
        "conversions": [{"type": "currency", "amount": "amount", "currency": "currency", "date": "day",
                         "to": "USD", "rates": RATES_SPEC, "max_age_days": max_age_days,
                         "output": "amount_usd"}],
        **extra,
    })


RAW = pa.table({
    "id": ["1", "2", "3", "4", "5", "6"],
    "amount": ["100.00", "10.05", "33.33", "7.50", "50.00", None],
    "currency": ["EUR", "EUR", "gbp", "USD", "BRL", "EUR"],
    "day": ["1997-05-19", "1997-05-16", "1997-05-19", "1997-05-19", "1997-05-19", "1997-05-19"],
})


def convert(max_age_days: int = 0) -> list[dict]:
    e = entity(max_age_days)
    spec = e.conversions[0].rates
    return map_batch(RAW, e, {spec: rates()}).table.to_pylist()


def test_amounts_convert_at_the_rate_of_their_date_with_rate_and_date_recorded():
    rows = convert()
    # by hand: 100.00*1.2 = 120.00; 10.05*1.1 = 11.055 -> 11.06 (half up);
    # 33.33*1.555555 = 51.8466... -> 51.85; USD converts at 1 without a lookup
    assert [r["amount_usd"] for r in rows[:4]] == [Decimal("120.00"), Decimal("11.06"), Decimal("51.85"),
                                                    Decimal("7.50")]
    assert sum(r["amount_usd"] for r in rows if r["amount_usd"] is not None) == Decimal("190.41")
    assert [r["amount_usd_rate"] for r in rows[:4]] == [Decimal("1.2"), Decimal("1.1"), Decimal("1.555555"),
                                                         Decimal("1")]
    assert [r["amount_usd_rate_date"] for r in rows[:4]] == [MON, FRI, MON, MON]
    assert all(r[ERRORS] is None for r in rows[:4])


def test_missing_rate_is_a_quarantine_reason_and_no_output():
    brl, no_amount = convert()[4:]
    assert brl[ERRORS] == "no USD rate for BRL on 1997-05-19"
    assert (brl["amount_usd"], brl["amount_usd_rate"], brl["amount_usd_rate_date"]) == (None, None, None)
    assert no_amount[ERRORS] is None and no_amount["amount_usd"] is None  # nothing to convert is no error


def test_max_age_days_accepts_an_older_rate():
    brl = convert(max_age_days=3)[4]  # Friday's rate, 3 days before Monday
    assert (brl["amount_usd"], brl["amount_usd_rate"], brl["amount_usd_rate_date"]) == (
        Decimal("47.50"), Decimal("0.95"), FRI)
    too_old = map_batch(RAW, entity(max_age_days=2), {entity().conversions[0].rates: rates()}).table
    assert too_old[ERRORS].to_pylist()[4] == "no USD rate for BRL on 1997-05-19 or in the 2 days before"


def test_conversion_outputs_are_declared_target_columns():
    e = entity()
    assert list(e.columns)[-3:] == ["amount_usd", "amount_usd_rate", "amount_usd_rate_date"]
    assert e.columns["amount_usd"].type == "decimal(18,2)"
    assert e.columns["amount_usd_rate"].type == "decimal(18,6)"
    assert e.converted_columns == {"amount_usd", "amount_usd_rate", "amount_usd_rate_date"}
    assert Entity.model_validate(e.model_dump()).columns == e.columns  # re-validating adds nothing twice


def test_map_batch_without_rates_names_what_is_missing():
    with pytest.raises(ConversionError, match="needs the rates of stg_t__fx"):
        map_batch(RAW, entity())


def test_rate_table_missing_from_the_warehouse(tmp_duckdb_url):
    with pytest.raises(ConversionError, match="'stg_t__fx' is not in the warehouse; load the entity"):
        read_rates(entity(), tmp_duckdb_url)


def test_units_convert_through_the_factor_table():
    e = Entity.model_validate({
        "system": "t", "entity": "stock", "primary_key": ["id"],
        "source": {"kind": "sql", "connection": "c", "table": "stock"},
        "columns": {"id": {}, "qty": {"type": "float"}, "unit": {"normalise": ["lower"]}},
        "conversions": [{"type": "units", "quantity": "qty", "unit": "unit", "to": "kg",
                         "factors": {"kg": 1, "g": 0.001, "lb": 0.45359237}, "output_type": "decimal(12,3)"}],
    })
    raw = pa.table({"id": ["a", "b", "c", "d", "e"], "qty": ["500", "2", "3", "1", "4"],
                    "unit": ["g", "LB", "kg", "oz", None]})
    out = map_batch(raw, e).table.to_pylist()
    assert [r["qty_kg"] for r in out] == [Decimal("0.500"), Decimal("0.907"), Decimal("3.000"), None, None]
    assert [r[ERRORS] for r in out] == [None, None, None, "no factor to convert unit 'oz' to kg",
                                        "cannot convert qty to kg: no unit"]


@pytest.mark.parametrize(("conversion", "message"), [
    ({"type": "currency", "amount": "total", "currency": "currency", "date": "day", "rates": RATES_SPEC},
     "conversions.0: column 'total' is not declared under 'columns'"),
    ({"type": "currency", "amount": "amount", "currency": "currency", "date": "day", "rates": RATES_SPEC,
      "output_type": "string"}, "output type 'string' must be float or decimal"),
    ({"type": "currency", "amount": "amount", "currency": "currency", "date": "day"}, "rates"),
    ({"type": "units", "quantity": "amount", "to": "kg", "factors": {"g": 0.001}, "from_unit": "g"},
     "unit 'kg' has no entry in 'factors'"),
    ({"type": "units", "quantity": "amount", "to": "kg", "factors": {"kg": 1}},
     "exactly one of 'unit' \\(a column\\) or 'from_unit'"),
    ({"type": "fx", "amount": "amount"}, "does not match any of the expected tags"),
])
def test_invalid_conversions(conversion, message):
    with pytest.raises(ValidationError, match=message):
        Entity.model_validate({
            "system": "t", "entity": "orders", "primary_key": ["id"],
            "source": {"kind": "sql", "connection": "c", "table": "orders"},
            "columns": {"id": {}, "amount": {"type": "decimal(12,2)"}, "currency": {},
                        "day": {"type": "date"}},
            "conversions": [conversion],
        })


def _system(tmp_path, entities: dict[str, list[str]]):
    folder = tmp_path / "t"  # the folder's name is the system's name
    folder.mkdir(exist_ok=True)
    (folder / "_system.yml").write_text("system: t\ndefaults: {source: {kind: sql, connection: c}}\n")
    for name, deps in entities.items():
        (folder / f"{name}.yml").write_text(
            f"primary_key: [id]\nsource: {{table: {name}}}\ncolumns: {{id: {{}}}}\ndepends_on: {deps}\n")
    return load_system(folder)


def test_dependencies_come_first_in_the_entity_order(tmp_path):
    cfg = _system(tmp_path, {"a_orders": ["z_rates"], "b_lines": ["a_orders", "z_rates"], "z_rates": []})
    assert list(cfg.entities) == ["z_rates", "a_orders", "b_lines"]


def test_unknown_and_circular_dependencies_are_refused(tmp_path):
    with pytest.raises(MappingError, match=r"a\.yml:4: depends_on: no entity 'fx' in this system; known: a"):
        _system(tmp_path, {"a": ["fx"]})
    for f in (tmp_path / "t").glob("*.yml"):
        f.unlink()
    with pytest.raises(MappingError, match="depends_on: cycle a -> b -> a"):
        _system(tmp_path, {"a": ["b"], "b": ["a"]})
    with pytest.raises(MappingError, match="cannot depend on itself"):
        _system(tmp_path, {"a": ["a"]})


def test_every_entity_on_a_cycle_is_named_with_its_file(tmp_path):
    with pytest.raises(MappingError) as err:
        _system(tmp_path, {"a": ["b"], "b": ["c"], "c": ["a"], "d": []})
    for name in "abc":  # a reads b, b reads c, c reads a: each file on the cycle is pointed at
        assert f"{tmp_path / 't' / name}.yml:4: depends_on: cycle a -> b -> c -> a" in str(err.value)
    lenient = load_system(tmp_path / "t", strict=False)
    assert list(lenient.entities) == ["d"] and sorted(lenient.broken) == ["a", "b", "c"]
