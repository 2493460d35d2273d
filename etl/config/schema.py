"""The mapping vocabulary: what a `mappings/<system>/<entity>.yml` file may say.

Pydantic models are the schema; `etl.config.loader` turns their validation errors into messages that
name the file, the line and the field. Every model forbids unknown keys so a typo is an error, not a
silently ignored setting. The source settings live in etl.config.source_settings, the column,
filter and conversion settings in etl.config.column_settings; this module holds the entity and the system
around them and re-exports both, so `from etl.config.schema import X` finds any part of the vocabulary.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from etl.columns import FILE_COLUMN  # re-exported: a mapping names it as `source: _file`
from etl.config.column_settings import (  # re-exported: the vocabulary is read as one schema
    DECIMAL_TYPE,
    NORMALISERS,
    TYPE_RE,
    Column,
    Conversion,
    CurrencyConversion,
    Derive,
    Filter,
    FilterOp,
    Lookup,
    RateTable,
    UnitConversion,
    arrow_type,
)
from etl.config.source_settings import (  # re-exported
    DEFAULT_MAX_RECORDS,
    Auth,
    FileSource,
    Incremental,
    Paginator,
    PluginSource,
    Restart,
    RestSource,
    Retry,
    Source,
    SqlSource,
)
from etl.config.strict import Strict

__all__ = [  # the whole vocabulary, as plug-ins and the loader import it
    "Auth",
    "Check",
    "Column",
    "Conform",
    "Conversion",
    "CurrencyConversion",
    "DECIMAL_TYPE",
    "DEFAULT_MAX_RECORDS",
    "DURATION_RE",
    "Derive",
    "Entity",
    "FILE_COLUMN",
    "FileSource",
    "Filter",
    "FilterOp",
    "Incremental",
    "Lookup",
    "NORMALISERS",
    "Paginator",
    "PluginSource",
    "Quality",
    "RateTable",
    "RestSource",
    "Restart",
    "Retry",
    "Schedule",
    "Source",
    "SqlSource",
    "Strict",
    "System",
    "TYPE_RE",
    "UnitConversion",
    "arrow_type",
    "duration_seconds",
]

class Check(Strict):
    """A row check an installed plug-in provides (entry point group etl.checks): rows it fails are
    quarantined with the check's name as the rule, like rows failing a built-in expectation."""

    check: str
    kwargs: dict[str, Any] = {}
    description: str = ""  # the reason stored with each refused row

    @model_validator(mode="after")
    def _known(self) -> Check:
        from etl.plugin_registry import check, check_arguments

        check_arguments(check(self.check), f"check {self.check!r}", 1, self.kwargs)
        return self


class Quality(Strict):
    suite: str | None = None  # expectations/<suite>.json; default: the target table's name
    checks: list[Check] = []  # plug-in row checks, run after the suite
    max_quarantine_share: float = Field(0.2, ge=0, le=1)  # above this the task fails...
    share_min_rows: int = Field(100, ge=0)  # ...once at least this many rows were checked (small runs are noisy)
    fail_on_empty: bool = True  # the source reported rows but none survived


class Schedule(Strict):
    cron: str | None = None  # None: only triggered (by an asset event or by hand)
    timezone: str = "UTC"
    catchup: bool = False
    # Glob (e.g. "*.csv") in the landing folder of the system's file entities: a file arriving there
    # starts a run within seconds (an Airflow AssetWatcher), in addition to the cron schedule.
    on_file: str | None = None
    poll_s: float = Field(2.0, gt=0, le=300)  # on_file: seconds between two looks at the landing folder


DURATION_RE = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*$")


def duration_seconds(text: str) -> int:
    """'26h', '2d', '1h30m', '45m' -> seconds; anything else is a ValueError naming the format."""
    match = DURATION_RE.match(text or "")
    if not match or not any(match.groups()):
        raise ValueError(f"duration {text!r}: expected a number of days, hours and/or minutes, e.g. 26h, 2d, 1h30m")
    d, h, m = (int(g or 0) for g in match.groups())
    seconds = ((d * 24 + h) * 60 + m) * 60
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be longer than zero")
    return seconds


class Conform(Strict):
    """Which conformed CRM core table (etl.models.conform) this entity feeds, and with which columns."""

    table: str  # accounts, contacts, deals, users, activities, tickets
    columns: dict[str, str] = {}  # contract column -> this entity's column, where the names differ

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"table": value} if isinstance(value, str) else value


class Entity(Strict):
    system: str
    entity: str
    description: str = ""
    target: str = ""  # warehouse table; default stg_<system>__<entity>
    primary_key: list[str] = Field(min_length=1)
    write_mode: Literal["merge", "replace", "append"] = "merge"
    source: Source
    columns: dict[str, Column] = Field(min_length=1)
    extras: Literal["keep", "drop"] = "keep"
    filters: list[Filter] = []
    conversions: list[Conversion] = []  # after cast and derive; their output columns are added
    depends_on: list[str] = []  # entities of the same system loaded before this one is transformed
    quality: Quality = Quality()
    conform: Conform | None = None  # feeds a conformed CRM core table (crm_deals, ...), see etl.models.conform
    # Maximum age of the data: the freshness check alerts when the last successful load is older
    # (e.g. 26h for a daily source; usually set once in _system.yml defaults). None: not checked.
    freshness: str | None = None

    @field_validator("freshness")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None:
            duration_seconds(str(v))
        return v

    @property
    def freshness_s(self) -> int | None:
        return duration_seconds(self.freshness) if self.freshness else None

    @model_validator(mode="after")
    def _consistent(self) -> Entity:
        if not self.target:
            object.__setattr__(self, "target", f"stg_{self.system}__{self.entity}")
        self._add_conversion_outputs()
        if self.entity in self.depends_on:
            raise ValueError(f"depends_on: entity {self.entity!r} cannot depend on itself")
        missing = [k for k in self.primary_key if k not in self.columns]
        if missing:
            raise ValueError(f"primary_key column {missing[0]!r} is not declared under 'columns'")
        for f in self.filters:
            if f.column not in self.columns:
                raise ValueError(f"filter column {f.column!r} is not declared under 'columns'")
        if problems := self._filter_type_problems():
            from pydantic import ValidationError

            raise ValidationError.from_exception_data("Entity", problems)
        if self.conform is not None:
            from etl.config.conform import check_conform

            check_conform(self.conform.table, self.conform.columns, set(self.columns))
        if self.source.kind == "files" and not any(c.source == FILE_COLUMN for c in self.columns.values()):
            raise ValueError(
                f"a files source needs a column with 'source: {FILE_COLUMN}' (e.g. source_file: "
                f"{{source: {FILE_COLUMN}}}) so a corrected re-delivery can replace the rows of the file "
                "it corrects"
            )
        return self

    def _filter_type_problems(self) -> list:
        """A filter value the run could not compare with its column (`score ge 'abc'`, a date column
        `ge yesterday`): refused here, at `filters.<i>.value`, not at run time as a bare ArrowInvalid.
        The check is the cast the filter itself does (etl.transform.filters)."""
        import pyarrow as pa

        problems: list[Any] = []  # pydantic's InitErrorDetails
        for i, f in enumerate(self.filters):
            col = self.columns[f.column]
            target = arrow_type("string" if col.type == "json" else col.type)
            given: list[tuple[Any, Any]] = [("value", f.value)] if f.value is not None else []
            given += [(("values", j), v) for j, v in enumerate(f.values or []) if v is not None]
            for where, value in given:
                try:
                    pa.scalar(value).cast(target)
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, ValueError):
                    loc = ("filters", i, *((where,) if isinstance(where, str) else where))
                    why = (f"{value!r} cannot be compared with column {f.column!r} (type {col.type}); "
                           "write a value of that type")
                    problems.append({"type": "value_error", "loc": loc, "input": value,
                                     "ctx": {"error": ValueError(why)}})
        return problems

    def _add_conversion_outputs(self) -> None:
        """Declare each conversion's output columns (unless the mapping declares them itself)."""
        added: dict[str, Column] = {}
        for i, conv in enumerate(self.conversions):
            missing = [c for c in conv.inputs() if c not in self.columns and c not in added]
            if missing:
                raise ValueError(f"conversions.{i}: column {missing[0]!r} is not declared under 'columns'")
            for name, col in conv.outputs().items():
                if name in added:
                    raise ValueError(f"conversions.{i}: output column {name!r} is produced twice")
                added[name] = self.columns.get(name, col)
        if added:
            object.__setattr__(self, "columns", {**self.columns, **added})

    @property
    def converted_columns(self) -> set[str]:
        """Columns the conversions fill (never read from the source)."""
        return {name for conv in self.conversions for name in conv.outputs()}

    @property
    def pipeline(self) -> str:
        return f"{self.system}_sync"


class System(Strict):
    """`mappings/<system>/_system.yml`: what every entity of one source system shares."""

    system: str
    description: str = ""  # one line: the DAG's description
    doc: str = ""  # Markdown for the DAG's page in the UI (what operators should know), after the description
    schedule: Schedule = Schedule()
    defaults: dict[str, Any] = {}  # deep-merged under every entity file (e.g. source.connection)
    tags: list[str] = []
