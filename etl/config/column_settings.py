"""What a mapping's `columns:`, `filters:` and `conversions:` may say: types, normalisers, derived and
looked-up columns, filters, currency and unit conversions.

Part of the mapping vocabulary (etl.config.schema is the whole of it and re-exports these names).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from etl.config.strict import Strict

TYPE_RE = re.compile(r"^(string|integer|bigint|float|boolean|date|timestamp|json|decimal\((\d+),\s*(\d+)\))$")
NORMALISERS = (
    "trim",
    "lower",
    "upper",
    "title",
    "collapse_spaces",
    "null_if_blank",
    "email",
    "phone_e164",
    "strip_punctuation",
    "digits_only",
)


class Derive(Strict):
    """A column computed from others (after casting). Exactly one key."""

    concat: list[str] | None = None  # column names; literals as '=text'
    coalesce: list[str] | None = None
    function: str | None = None  # a registered Python function, see etl.transform.registry
    args: list[str] = []
    kwargs: dict[str, Any] = {}

    @model_validator(mode="after")
    def _exactly_one(self) -> Derive:
        given = [k for k in ("concat", "coalesce", "function") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("derive takes exactly one of concat, coalesce, function")
        if self.function is not None:
            from etl.transform.registry import resolve

            resolve(self.function, len(self.args), self.kwargs)  # unknown name or bad kwargs: fail at load
        return self


class Lookup(Strict):
    """Translate codes through a fixed table; unknown codes get `default` (or stay null)."""

    values: dict[str, Any]
    default: Any = None
    case_insensitive: bool = True


def arrow_type(type_name: str) -> Any:
    """The Arrow type of a column type of this vocabulary (`decimal(P,S)` included): what the transform
    casts to and what a filter value must cast to."""
    import pyarrow as pa

    if m := DECIMAL_TYPE.fullmatch(type_name):
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    return {
        "string": pa.string(),
        "json": pa.string(),
        "integer": pa.int64(),
        "bigint": pa.int64(),
        "float": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
    }[type_name]


DECIMAL_TYPE = re.compile(r"decimal\((\d+),\s*(\d+)\)")


class Column(Strict):
    source: str | None = None  # dotted path in the source record; default: the column's own name
    type: str = "string"
    description: str = ""
    normalise: list[str] = []
    formats: list[str] = []  # date/timestamp: strftime formats, 'iso', 'epoch_ms', 'epoch_s'
    timezone: str = "UTC"  # zone of naive source timestamps
    true_values: list[str] = ["true", "t", "yes", "y", "1"]  # boolean
    false_values: list[str] = ["false", "f", "no", "n", "0"]
    default: Any = None
    derive: Derive | None = None
    lookup: Lookup | None = None
    pii: Literal["keep", "hash", "mask", "drop"] = "keep"
    phone_region_from: str | None = None  # phone_e164: column holding the country for national numbers
    phone_default_region: str = "US"

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if not TYPE_RE.match(v):
            raise ValueError(
                f"unknown type {v!r}; expected one of string, integer, bigint, float, boolean, date, "
                "timestamp, json, decimal(P,S)"
            )
        return v

    @field_validator("normalise")
    @classmethod
    def _known_normalisers(cls, v: list[str]) -> list[str]:
        bad = [n for n in v if n not in NORMALISERS]
        if bad:
            raise ValueError(f"unknown normaliser {bad[0]!r}; expected one of {', '.join(NORMALISERS)}")
        return v


FilterOp = Literal["eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "is_null", "not_null", "between"]


class Filter(Strict):
    """Keep only rows for which the condition holds; the rest count as `filtered`."""

    column: str
    op: FilterOp
    value: Any = None
    values: list[Any] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _operands(self) -> Filter:
        needs_list = self.op in ("in", "not_in", "between")
        if needs_list and not self.values:
            raise ValueError(f"filter op {self.op!r} needs 'values' (a list)")
        if self.op == "between" and len(self.values or []) != 2:
            raise ValueError("filter op 'between' needs exactly two values [low, high]")
        if self.op in ("eq", "ne", "gt", "ge", "lt", "le") and self.value is None:
            raise ValueError(f"filter op {self.op!r} needs 'value'")
        return self


class RateTable(Strict):
    """Where a currency conversion finds its rates: a warehouse table another entity loads (depends_on)."""

    table: str  # e.g. stg_erp__fx_rates
    date: str = "rate_date"
    currency: str = "currency"
    rate: str = "rate"  # units of the target currency for one unit of `currency`


def _numeric_type(v: str) -> str:
    if v != "float" and not v.startswith("decimal("):
        raise ValueError(f"output type {v!r} must be float or decimal(P,S)")
    if not TYPE_RE.match(v):
        raise ValueError(f"unknown type {v!r}; expected float or decimal(P,S)")
    return v


class CurrencyConversion(Strict):
    """`amount` (in the row's `currency`) times the latest rate on or before `date` -> `output` in `to`.

    Adds the columns <output>, <output>_rate and <output>_rate_date (the rate used and its date). A
    row with an amount but no rate within `max_age_days` is quarantined with the reason, e.g.
    "no USD rate for BRL on 1997-05-19". Amounts already in `to` convert at 1 without a lookup.
    """

    type: Literal["currency"]
    amount: str
    currency: str
    date: str
    to: str = "USD"
    rates: RateTable
    max_age_days: int = Field(0, ge=0)  # 0: the rate of that very date; n: up to n days older
    output: str = ""  # default <amount>_<to>, e.g. total_amount_usd
    output_type: str = "decimal(18,2)"
    rate_type: str = "decimal(18,6)"

    @field_validator("output_type", "rate_type")
    @classmethod
    def _numeric(cls, v: str) -> str:
        return _numeric_type(v)

    @property
    def target(self) -> str:
        return self.output or f"{self.amount}_{self.to.lower()}"

    def inputs(self) -> list[str]:
        return [self.amount, self.currency, self.date]

    def outputs(self) -> dict[str, Column]:
        why = f"{self.amount} converted to {self.to} at the {self.rates.table} rate of {self.date}"
        return {self.target: Column(type=self.output_type, description=why),
                f"{self.target}_rate": Column(type=self.rate_type, description=f"{self.to} per unit, used"),
                f"{self.target}_rate_date": Column(type="date", description="date of the rate used")}


class UnitConversion(Strict):
    """`quantity` in its unit (a column, or one `from_unit` for all rows) -> `output` in `to`.

    `factors` gives every unit's size in one common base (e.g. kg: 1, g: 0.001, lb: 0.45359237); a
    row whose unit has no factor is quarantined with the reason.
    """

    type: Literal["units"]
    quantity: str
    unit: str | None = None  # column holding each row's unit
    from_unit: str | None = None  # the unit of every row, when there is no unit column
    to: str
    factors: dict[str, float] = Field(min_length=1)
    output: str = ""  # default <quantity>_<to>
    output_type: str = "float"

    @field_validator("output_type")
    @classmethod
    def _numeric(cls, v: str) -> str:
        return _numeric_type(v)

    @model_validator(mode="after")
    def _units(self) -> UnitConversion:
        if (self.unit is None) == (self.from_unit is None):
            raise ValueError("units conversion takes exactly one of 'unit' (a column) or 'from_unit'")
        for u in (self.to, self.from_unit):
            if u is not None and u not in self.factors:
                raise ValueError(f"unit {u!r} has no entry in 'factors'")
        return self

    @property
    def target(self) -> str:
        return self.output or f"{self.quantity}_{self.to.lower()}"

    def inputs(self) -> list[str]:
        return [self.quantity] + ([self.unit] if self.unit else [])

    def outputs(self) -> dict[str, Column]:
        return {self.target: Column(type=self.output_type, description=f"{self.quantity} in {self.to}")}


Conversion = Annotated[CurrencyConversion | UnitConversion, Field(discriminator="type")]
