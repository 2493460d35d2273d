"""`derive: {function: customer_tier, args: [annual_revenue]}` - the company's customer-tier rule."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

DEFAULT_BANDS = {"enterprise": 1_000_000, "mid_market": 100_000}


def customer_tier(revenue: pa.Array, bands: dict | None = None) -> pa.Array:
    """enterprise / mid_market / smb by annual revenue (bands: lower bounds); null revenue stays null."""
    bands = {**DEFAULT_BANDS, **(bands or {})}
    amount = pc.cast(revenue, pa.float64())
    tier = pc.if_else(pc.greater_equal(amount, bands["mid_market"]), "mid_market", "smb")
    return pc.if_else(pc.greater_equal(amount, bands["enterprise"]), "enterprise", tier)
