"""`quality: {checks: [{check: customer_code_format, kwargs: {column: code, prefix: C-}}]}`."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def customer_code_format(table: pa.Table, column: str, prefix: str = "C-") -> pa.Array:
    """Customer codes start with the company's prefix; a row without a code passes."""
    codes = table[column]
    return pc.or_(pc.is_null(codes), pc.starts_with(pc.cast(codes, pa.string()), prefix))
