"""The mapping vocabulary: what a `mappings/<system>/<entity>.yml` file may say.

Pydantic models are the schema; `etl.config.loader` turns their validation errors into messages that
name the file, the line and the field. Every model forbids unknown keys so a typo is an error, not a
silently ignored setting.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from etl.columns import FILE_COLUMN  # re-exported: a mapping names it as `source: _file`


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------- sources


class Auth(Strict):
    """How requests authenticate; secrets come from the Airflow Connection, never from YAML."""

    type: Literal["none", "bearer", "api_key", "basic"] = "bearer"
    scheme: str = "Bearer"  # bearer only: the word before the token (Zoho: Zoho-oauthtoken)
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
    has_more_path: str | None = None  # page_number/offset: a boolean in the body; false ends the walk


class Incremental(Strict):
    """Read only what changed since the stored watermark."""

    cursor_field: str  # dotted path in the source record, e.g. updatedAt
    param: str | None = None  # query parameter carrying the watermark, e.g. updatedAfter
    param_format: Literal["iso", "iso_s", "iso_offset", "soql", "odata", "epoch_ms", "epoch_s", "date",
                          "datetime"] = "iso"
    lag_s: int = Field(0, ge=0)  # re-read this many seconds before the watermark (late writers)
    initial: str | None = None  # first-ever run starts here (ISO timestamp); None = everything
    # how far the source's clock may run ahead of ours: a cursor later than the run's clock plus this is
    # not a real change time and is quarantined (rule cursor_future) instead of moving the watermark
    clock_skew_s: int = Field(300, ge=0, le=7 * 86400)


class Restart(Strict):
    """When the server says a long walk's cursor expired, restart the query from the highest cursor
    value received so far (see etl.sources.rest). Matches on the status and/or a text in the body."""

    status: list[int] = []  # e.g. [400]; empty: any 4xx whose body matches
    body_contains: str | None = None  # e.g. INVALID_QUERY_LOCATOR
    max_restarts: int = Field(20, ge=1)

    @model_validator(mode="after")
    def _something(self) -> Restart:
        if not self.status and not self.body_contains:
            raise ValueError("restart_on needs 'status' and/or 'body_contains' (what an expired cursor looks like)")
        return self


DEFAULT_MAX_RECORDS = 20_000_000  # a REST walk bigger than this needs source.max_pages set on purpose


class RestSource(Strict):
    kind: Literal["rest"] = "rest"
    connection: str  # Airflow Connection id, e.g. crm_api (env AIRFLOW_CONN_CRM_API)
    path: str  # appended to the connection's base URL; may hold {watermark...} placeholders
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, Any] = {}  # query string (GET) or top-level JSON body keys (POST); templated
    headers: dict[str, str] = {}  # extra request headers, templated (e.g. If-Modified-Since)
    body: dict[str, Any] | None = None  # POST: JSON body template; paging params are added to it
    restart_on: Restart | None = None  # expired server cursor: restart from the highest cursor seen
    auth: Auth = Auth()
    records_path: str = "results"  # dotted path to the list of records in a response body ("" = body)
    page_size: int = Field(100, ge=1)
    page_size_param: str | None = "limit"
    paginator: Paginator = Paginator()
    incremental: Incremental | None = None
    timeout_s: float = Field(30.0, gt=0)
    retry: Retry = Retry()
    # Bounds of one walk; past any of them the run fails loudly (etl.sources.pagination). Defaults fit
    # the source: max_pages from page_size (DEFAULT_MAX_RECORDS records), 6 hours of wall time, and
    # 3 pages in a row that hold no records yet point at a next page (a source sending fresh cursors
    # forever).
    max_pages: int | None = Field(None, ge=1)
    max_seconds: float = Field(6 * 3600, gt=0, le=7 * 86400)
    max_empty_pages: int = Field(3, ge=0, le=1000)
    # One request's total time, body included (timeout_s bounds each socket wait, not the sum: a server
    # trickling bytes never trips it). Past it the attempt is retried like a read timeout; None: only the
    # walk's max_seconds bounds it (a request never outlasts the walk either way).
    request_max_seconds: float | None = Field(None, gt=0, le=7 * 86400)
    batch_rows: int = Field(50_000, ge=1)  # rows per Arrow batch handed downstream

    @property
    def page_limit(self) -> int:
        """`max_pages`, or by default enough pages for DEFAULT_MAX_RECORDS records (at least 1,000)."""
        return self.max_pages or max(1_000, -(-DEFAULT_MAX_RECORDS // self.page_size))

    @model_validator(mode="after")
    def _templates(self) -> RestSource:
        from etl.sources.templating import check, placeholders

        for name in ("path", "params", "headers", "body"):
            try:
                check(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        request = [self.path, self.params, self.headers, self.body]
        uses_watermark = any(n == "watermark" for n, _ in placeholders(request))
        if uses_watermark and self.incremental is None:
            raise ValueError("{watermark} is used in the request but 'incremental' (its cursor_field) is not set")
        if self.body is not None and self.method != "POST":
            raise ValueError("'body' is sent with method: POST only")
        overlap = sorted(set(self.restart_on.status) & set(self.retry.retry_on_status)) if self.restart_on else []
        if overlap:
            raise ValueError(f"restart_on.status {overlap[0]} is also in retry.retry_on_status: an answer is either "
                             "retried as it is or restarts the query, not both")
        if self.restart_on and not (uses_watermark or (self.incremental and self.incremental.param)):
            raise ValueError("restart_on needs the watermark in the request ({watermark} or incremental.param), "
                             "else a restarted query would read everything again")
        return self


class SqlSource(Strict):
    """A table or a SELECT of a SQL database (etl.sources.sql), read in cursor order in bounded batches.

    With `incremental`: rows whose cursor column is above the watermark (minus `lag_s` for timestamps).
    With `window: data_interval` too: rows whose cursor falls in the run's data interval [start, end)
    instead, so an Airflow backfill of past dates reads exactly its dates. With neither: the whole
    table on every run (small reference tables; pair with write_mode: replace).
    """

    kind: Literal["sql"] = "sql"
    connection: str  # Airflow Connection id whose URI is a SQLAlchemy URL
    table: str | None = None
    query: str | None = None
    incremental: Incremental | None = None  # cursor_field is a column; param is unused
    window: Literal["data_interval"] | None = None
    batch_rows: int = Field(50_000, ge=1)

    @model_validator(mode="after")
    def _one_of_table_or_query(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        if self.window and self.incremental is None:
            raise ValueError("window: data_interval needs incremental.cursor_field (the column it uses)")
        return self




class FileSource(Strict):
    """Files dropped into a landing folder (see etl.sources.files): each file is loaded once."""

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

    @model_validator(mode="after")
    def _json_options(self) -> FileSource:
        if self.format != "json" and (self.explode or self.parent_fields or self.records_path):
            raise ValueError("records_path, explode and parent_fields apply to format: json only")
        if self.parent_fields and not self.explode:
            raise ValueError("parent_fields needs 'explode' (the list whose items become the rows)")
        return self


class PluginSource(BaseModel):
    """`source: {kind: <name>, ...}` for a source kind an installed plug-in provides (etl.plugins).

    The other keys are the plug-in's own settings, validated by its `Settings` model when the mapping
    is loaded, so a typo fails here, as it would for a built-in kind.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    @model_validator(mode="after")
    def _plugin_settings(self) -> PluginSource:
        self.settings  # noqa: B018 - validates; raises ValueError naming the field
        return self

    @property
    def settings(self) -> Any:
        from etl.plugin_registry import source_plugin, validate_settings

        return validate_settings(source_plugin(self.kind), self.kind, dict(self.model_extra or {}))


def _source_tag(value: Any) -> str:
    kind = value.get("kind", "rest") if isinstance(value, dict) else getattr(value, "kind", "rest")
    return kind if kind in ("rest", "sql", "files") else "plugin"


Source = Annotated[
    Annotated[RestSource, Tag("rest")] | Annotated[SqlSource, Tag("sql")] | Annotated[FileSource, Tag("files")]
    | Annotated[PluginSource, Tag("plugin")],
    Discriminator(_source_tag),
]

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
