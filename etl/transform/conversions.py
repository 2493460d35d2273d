"""Conversions a mapping declares under `conversions:`: money to a reporting currency, quantities to a unit.

Currency: each amount is multiplied by the latest rate of its currency on or before its date (an as-of
join, done by DuckDB over Arrow for the whole batch at once), at most `max_age_days` old. The rate and
its date are kept next to the converted amount, so every figure can be traced to the rate behind it.
Rates come from a warehouse table another entity loads (`depends_on`); the load side reads them once
per transform step (`etl.load.rates.read_rates`) and hands them to `map_batch`: transform never opens
the warehouse.

A row with an amount that cannot be converted gets a reason in the mapping's `_errors` column (e.g.
"no USD rate for BRL on 1997-05-19") and is quarantined like a value that fails its cast; its output
columns stay null. A null amount converts to null without complaint.

Units: `quantity * factor[unit] / factor[to]`, with the factors written in the mapping.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from etl.config.schema import CurrencyConversion, Entity, RateTable, UnitConversion
from etl.transform.cast import arrow_type

RateTables = dict[RateTable, pa.Table]  # columns rate_date (date32), currency (string), rate (decimal)
RATE_TYPE = pa.decimal128(38, 12)
NO_TEXT = pa.scalar(None, pa.string())


class ConversionError(RuntimeError):
    """A conversion cannot run at all (its rate table is missing); the message says what to load first."""


# ------------------------------------------------------------------------------------------------ rates


def rate_table(dates: list, currencies: list, rates: list) -> pa.Table:
    """A rate table in the shape the as-of join expects (also what tests build fixtures with)."""
    exact = [None if r is None else Decimal(str(r)) for r in rates]  # floats via their shortest text
    return pa.table({"rate_date": pa.array(dates, pa.date32()), "currency": pa.array(currencies, pa.string()),
                     "rate": pa.array(exact, RATE_TYPE)})


# ------------------------------------------------------------------------------------------- converting


def apply_conversions(columns: dict[str, pa.Array], entity: Entity,
                      rates: RateTables | None) -> tuple[dict[str, pa.Array], list[pa.Array]]:
    """The output columns of every conversion, and one reason array per conversion (null = converted)."""
    table = pa.table(columns)
    outputs: dict[str, pa.Array] = {}
    reasons: list[pa.Array] = []
    for conv in entity.conversions:
        if isinstance(conv, CurrencyConversion):
            if rates is None or conv.rates not in rates:
                raise ConversionError(f"{entity.system}.{entity.entity}: currency conversion to {conv.to} "
                                      f"needs the rates of {conv.rates.table} (etl.load.rates.read_rates)")
            produced, reason = convert_currency(table, conv, rates[conv.rates])
        else:
            produced, reason = convert_units(table, conv)
        outputs.update(produced)
        reasons.append(reason)
    return outputs, reasons


def _as_of(currency: pa.Array, day: pa.Array, rates: pa.Table) -> pa.Table:
    """For each row, the latest (rate_date, rate) of its currency on or before its day, in row order."""
    import duckdb

    left = pa.table({"i": pa.array(range(len(day)), pa.int64()), "cur": currency, "day": day})
    con = duckdb.connect()
    try:
        con.register("l", left)
        con.register("r", rates)
        return con.sql("SELECT r.rate_date, r.rate FROM l ASOF LEFT JOIN r "
                       "ON l.cur = r.currency AND l.day >= r.rate_date ORDER BY l.i").to_arrow_table()
    finally:
        con.close()


def convert_currency(table: pa.Table, conv: CurrencyConversion,
                     rates: pa.Table) -> tuple[dict[str, pa.Array], pa.Array]:
    amount = table[conv.amount].combine_chunks()
    currency = pc.utf8_upper(pc.cast(table[conv.currency], pa.string())).combine_chunks()
    day = pc.cast(table[conv.date], pa.date32()).combine_chunks()
    found = _as_of(currency, day, rates)
    rate_date, rate = found["rate_date"].combine_chunks(), found["rate"].combine_chunks()
    too_old = pc.fill_null(pc.greater(pc.days_between(rate_date, day), conv.max_age_days), False)
    rate_date = pc.if_else(too_old, pa.scalar(None, pa.date32()), rate_date)
    rate = pc.if_else(too_old, pa.scalar(None, RATE_TYPE), rate)
    same = pc.fill_null(pc.equal(currency, conv.to.upper()), False)  # no lookup for amounts already in `to`
    rate = pc.if_else(same, pa.scalar(Decimal(1), RATE_TYPE), rate)
    rate_date = pc.if_else(same, day, rate_date)

    rate_out = _to_type(rate, conv.rate_type)
    converted = _to_type(_multiply(amount, rate_out), conv.output_type)
    need = pc.is_valid(amount)
    missing_rate = pc.and_(need, pc.is_null(rate_out))
    no_rate = pc.binary_join_element_wise(f"no {conv.to} rate for ", currency, " on ",
                                          pc.cast(day, pa.string()), _age_note(conv.max_age_days), "")
    cannot = f"cannot convert {conv.amount} to {conv.to}: no"
    reason = pc.if_else(
        pc.and_(need, pc.is_null(currency)), f"{cannot} {conv.currency}",
        pc.if_else(pc.and_(need, pc.is_null(day)), f"{cannot} {conv.date}",
                   pc.if_else(missing_rate, no_rate, NO_TEXT)))
    keep = pc.invert(missing_rate)
    return ({conv.target: converted,
             f"{conv.target}_rate": pc.if_else(keep, rate_out, pa.scalar(None, rate_out.type)),
             f"{conv.target}_rate_date": pc.if_else(keep, rate_date, pa.scalar(None, pa.date32()))},
            reason)


def _age_note(max_age_days: int) -> str:
    return "" if max_age_days == 0 else f" or in the {max_age_days} days before"


def convert_units(table: pa.Table, conv: UnitConversion) -> tuple[dict[str, pa.Array], pa.Array]:
    quantity = pc.cast(table[conv.quantity], pa.float64()).combine_chunks()
    n = len(quantity)
    if conv.unit:
        unit = pc.cast(table[conv.unit], pa.string()).combine_chunks()
    else:
        unit = pa.array([conv.from_unit] * n, pa.string())
    names = list(conv.factors)
    factor = pc.take(pa.array([conv.factors[u] for u in names], pa.float64()),
                     pc.index_in(unit, pa.array(names, pa.string())))
    converted = _to_type(pc.divide(pc.multiply(quantity, factor), conv.factors[conv.to]), conv.output_type)
    need = pc.is_valid(quantity)
    reason = pc.if_else(
        pc.and_(need, pc.is_null(unit)), f"cannot convert {conv.quantity} to {conv.to}: no unit",
        pc.if_else(pc.and_(need, pc.is_null(factor)),
                   pc.binary_join_element_wise("no factor to convert unit '", unit, f"' to {conv.to}", ""),
                   NO_TEXT))
    return {conv.target: converted}, reason


def _multiply(amount: pa.Array, rate: pa.Array) -> pa.Array:
    if pa.types.is_decimal(amount.type):
        return pc.multiply(amount, rate)  # exact: decimal(p1+p2+1, s1+s2)
    return pc.multiply(pc.cast(amount, pa.float64()), pc.cast(rate, pa.float64()))


def _to_type(values: pa.Array, type_name: str) -> pa.Array:
    """Round half away from zero to the target scale, then cast (decimal) or leave as float."""
    target = arrow_type(type_name)
    if pa.types.is_decimal(target):
        rounded = pc.round(values, ndigits=target.scale, round_mode="half_towards_infinity")
        return pc.cast(rounded, target)
    return pc.cast(values, target)
