"""Settings of the analytical marts (`mappings/models/analytics.yml`), validated, then written to the
warehouse as two small tables the model SQL reads: `model_settings` (one row: the as-of date and the
association-rule thresholds) and `model_rfm_segments` (the RFM segment rules, in priority order).

Why tables and not SQL templating: the model files stay plain SQL that runs unchanged on DuckDB and
PostgreSQL, an analyst can see which thresholds built the numbers, and a threshold change is a YAML
edit with no code change. Errors name the file, the line and the field, as mapping errors do.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from pydantic import Field, ValidationError, field_validator
from sqlalchemy.engine import Connection

from etl.config.loader import PROJECT_ROOT, MappingError, _format_errors, _read_yaml, mappings_dir
from etl.config.schema import Strict
from etl.layers import expose, qualified

DEFAULT_PATH = PROJECT_ROOT / "mappings" / "models" / "analytics.yml"
Score = tuple[int, int]


class Segment(Strict):
    segment: str
    r: Score | None = None
    f: Score | None = None
    m: Score | None = None

    @field_validator("r", "f", "m")
    @classmethod
    def _range(cls, v: Score | None) -> Score | None:
        if v is not None and not 1 <= v[0] <= v[1] <= 5:
            raise ValueError(f"a score range is [low, high] with 1 <= low <= high <= 5, got {list(v)}")
        return v


class Rfm(Strict):
    segments: list[Segment] = Field(min_length=1)


class Associations(Strict):
    min_support: float = Field(ge=0, le=1)
    min_confidence: float = Field(ge=0, le=1)
    min_lift: float = Field(ge=0)
    min_baskets: int = Field(ge=1)


class Analytics(Strict):
    as_of_date: Literal["latest"] | dt.date = "latest"
    rfm: Rfm
    associations: Associations


def settings_path() -> Path:
    """The file in ETL_MAPPINGS_DIR when it has one, else the project's own."""
    path = mappings_dir() / "models" / "analytics.yml"
    return path if path.exists() else DEFAULT_PATH


def load_settings(path: Path | None = None) -> Analytics:
    path = path or settings_path()
    data, lines = _read_yaml(path)
    try:
        return Analytics.model_validate(data or {})
    except ValidationError as exc:
        raise MappingError(_format_errors(exc, path, lines)) from None


def as_of_date(conn: Connection, settings: Analytics) -> dt.date | None:
    """The configured date, or the latest ERP order or invoice date (None on an empty warehouse)."""
    if isinstance(settings.as_of_date, dt.date):
        return settings.as_of_date
    latest = conn.execute(sa.text("SELECT MAX(d) FROM (SELECT MAX(order_date) AS d FROM stg_erp__orders "
                                  "UNION ALL SELECT MAX(invoice_date) FROM stg_erp__invoices) x")).scalar()
    return dt.date.fromisoformat(str(latest)[:10]) if latest is not None else None


def write_settings(conn: Connection, settings: Analytics | None = None) -> dict:
    """(Re)create model_settings and model_rfm_segments in the current transaction; returns the row."""
    settings = settings or load_settings()
    a = settings.associations
    row = {"as_of_date": as_of_date(conn, settings), "min_support": a.min_support,
           "min_confidence": a.min_confidence, "min_lift": a.min_lift, "min_baskets": a.min_baskets}
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {qualified('model_settings')}"))
    conn.execute(sa.text(f"CREATE TABLE {qualified('model_settings')} (as_of_date DATE, min_support DOUBLE PRECISION, "
                         "min_confidence DOUBLE PRECISION, min_lift DOUBLE PRECISION, min_baskets INTEGER)"))
    conn.execute(sa.text("INSERT INTO model_settings VALUES (:as_of_date, :min_support, :min_confidence, "
                         ":min_lift, :min_baskets)"), row)
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {qualified('model_rfm_segments')}"))
    conn.execute(sa.text(f"CREATE TABLE {qualified('model_rfm_segments')} (priority INTEGER, segment VARCHAR(64), "
                         "r_min INTEGER, r_max INTEGER, f_min INTEGER, f_max INTEGER, m_min INTEGER, "
                         "m_max INTEGER)"))
    conn.execute(sa.text("INSERT INTO model_rfm_segments VALUES (:p, :s, :r0, :r1, :f0, :f1, :m0, :m1)"),
                 [{"p": i, "s": s.segment, **_bounds("r", s.r), **_bounds("f", s.f), **_bounds("m", s.m)}
                  for i, s in enumerate(settings.rfm.segments, start=1)])
    for table in ("model_settings", "model_rfm_segments"):
        expose(conn, table)
    return row


def _bounds(name: str, score: Score | None) -> dict[str, int]:
    low, high = score or (1, 5)
    return {f"{name}0": low, f"{name}1": high}
