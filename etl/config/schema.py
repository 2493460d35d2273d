"""The mapping vocabulary: what a `mappings/<system>/<entity>.yml` file may say.

Pydantic models are the schema; `etl.config.loader` turns their validation errors into messages that
name the file, the line and the field. Every model forbids unknown keys so a typo is an error, not a
silently ignored setting.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------- sources


class Auth(Strict):
    """How requests authenticate; secrets come from the Airflow Connection, never from YAML."""

    type: Literal["none", "bearer", "api_key", "basic"] = "bearer"
    header: str = "X-API-Key"  # api_key only: header that carries the connection's password
    query_param: str | None = None  # api_key only: send as ?<param>=... instead of a header


class Retry(Strict):
    max_attempts: int = Field(6, ge=1, le=50)
    backoff_s: float = Field(0.5, ge=0)
    max_backoff_s: float = Field(30.0, ge=0)
    jitter: bool = True
    retry_on_status: list[int] = [429, 500, 502, 503, 504]


class Paginator(Strict):
    """One of the pagination styles real REST APIs use."""

    type: Literal["json_cursor", "next_url", "page_number", "offset", "link_header", "single"] = "json_cursor"
    cursor_path: str = "paging.next.after"  # json_cursor: where the next cursor sits in the body
    cursor_param: str = "after"  # json_cursor: query parameter that sends it back
    next_url_path: str = "paging.next.link"  # next_url: where the next page's URL sits in the body
    page_param: str = "page"  # page_number
    start_page: int = 1
    total_pages_path: str | None = None  # page_number: stop when page == total pages
    offset_param: str = "offset"  # offset
    total_path: str | None = None  # offset: total record count in the body


class Incremental(Strict):
    """Read only what changed since the stored watermark."""

    cursor_field: str  # dotted path in the source record, e.g. updatedAt
    param: str | None = None  # query parameter carrying the watermark, e.g. updatedAfter
    param_format: Literal["iso", "epoch_ms", "epoch_s", "date"] = "iso"
    lag_s: int = Field(0, ge=0)  # re-read this many seconds before the watermark (late writers)
    initial: str | None = None  # first-ever run starts here (ISO timestamp); None = everything


class RestSource(Strict):
    kind: Literal["rest"] = "rest"
    connection: str  # Airflow Connection id, e.g. crm_api (env AIRFLOW_CONN_CRM_API)
    path: str  # appended to the connection's base URL
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, Any] = {}
    auth: Auth = Auth()
    records_path: str = "results"  # dotted path to the list of records in a response body ("" = body)
    page_size: int = Field(100, ge=1)
    page_size_param: str | None = "limit"
    paginator: Paginator = Paginator()
    incremental: Incremental | None = None
    timeout_s: float = Field(30.0, gt=0)
    retry: Retry = Retry()
    max_pages: int = Field(1_000_000, ge=1)  # hard stop: a runaway pagination fails loudly
    batch_rows: int = Field(50_000, ge=1)  # rows per Arrow batch handed downstream


class SqlSource(Strict):
    kind: Literal["sql"] = "sql"
    connection: str  # Airflow Connection id whose URI is a SQLAlchemy URL
    table: str | None = None
    query: str | None = None
    incremental: Incremental | None = None  # cursor_field is a column; param is unused
    batch_rows: int = Field(50_000, ge=1)

    @model_validator(mode="after")
    def _one_of_table_or_query(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


class FileSource(Strict):
    kind: Literal["files"] = "files"
    landing: str  # folder (relative to ETL_DATA_DIR unless absolute) receiving the drops
    pattern: str  # glob of the files this entity reads, e.g. approvals_*.csv
    format: Literal["csv", "xlsx", "json"]
    encoding: str = "utf-8"
    delimiter: str = ","
    sheet: str | int = 0
    records_path: str = ""  # json: dotted path to the records inside each document
    explode: str | None = None  # json: list field whose items become the rows (child tables)
    parent_fields: dict[str, str] = {}  # json explode: parent field -> column name carried onto children
    required_columns: list[str] = []  # a file lacking one is rejected with that reason
    batch_rows: int = Field(50_000, ge=1)


Source = Annotated[RestSource | SqlSource | FileSource, Field(discriminator="kind")]

# --------------------------------------------------------------------------------------------- mapping

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
        return self


class Lookup(Strict):
    """Translate codes through a fixed table; unknown codes get `default` (or stay null)."""

    values: dict[str, Any]
    default: Any = None
    case_insensitive: bool = True


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


class Quality(Strict):
    suite: str | None = None  # expectations/<suite>.json; default: the target table's name
    max_quarantine_share: float = Field(0.2, ge=0, le=1)  # above this the task fails
    fail_on_empty: bool = True  # the source reported rows but none survived


class Schedule(Strict):
    cron: str | None = None  # None: only triggered (by an asset event or by hand)
    timezone: str = "UTC"
    catchup: bool = False


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
    quality: Quality = Quality()

    @model_validator(mode="after")
    def _consistent(self) -> Entity:
        if not self.target:
            object.__setattr__(self, "target", f"stg_{self.system}__{self.entity}")
        missing = [k for k in self.primary_key if k not in self.columns]
        if missing:
            raise ValueError(f"primary_key column {missing[0]!r} is not declared under 'columns'")
        for f in self.filters:
            if f.column not in self.columns:
                raise ValueError(f"filter column {f.column!r} is not declared under 'columns'")
        return self

    @property
    def pipeline(self) -> str:
        return f"{self.system}_sync"


class System(Strict):
    """`mappings/<system>/_system.yml`: what every entity of one source system shares."""

    system: str
    description: str = ""
    schedule: Schedule = Schedule()
    defaults: dict[str, Any] = {}  # deep-merged under every entity file (e.g. source.connection)
    tags: list[str] = []
