"""The rate tables currency conversions join to, read from the warehouse for the transform step.

Transform is pure (Arrow in, Arrow out); reading the warehouse is a load-side concern, so the step reads
the rates here once per run and passes them to `etl.transform.mapping.map_batch`.
"""

from __future__ import annotations

import sqlalchemy as sa

from etl.config.schema import CurrencyConversion, Entity
from etl.load.warehouse import existing_columns, quote, transaction
from etl.transform.conversions import ConversionError, RateTables, rate_table


def read_rates(entity: Entity, warehouse_url: str | None) -> RateTables:
    """Every rate table the entity's currency conversions use, read from the warehouse."""
    specs = {c.rates for c in entity.conversions if isinstance(c, CurrencyConversion)}
    if not specs:
        return {}
    out: RateTables = {}
    with transaction(warehouse_url) as conn:
        for spec in specs:
            if not existing_columns(conn, spec.table):
                raise ConversionError(
                    f"{entity.system}.{entity.entity}: the rate table {spec.table!r} is not in the "
                    "warehouse; load the entity that fills it first (list it under depends_on)")
            columns = ", ".join(quote(c) for c in (spec.date, spec.currency, spec.rate))
            rows = conn.execute(sa.text(f"SELECT {columns} FROM {quote(spec.table)}")).all()
            out[spec] = rate_table([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    return out
