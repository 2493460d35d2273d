"""Database URLs as the product opens them, for warehouses and SQL sources alike."""

from __future__ import annotations


def with_driver(url: str) -> str:
    """`postgresql://` means psycopg2 here (SQLAlchemy 2.1 would otherwise pick psycopg 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url.removeprefix(prefix)
    return url
