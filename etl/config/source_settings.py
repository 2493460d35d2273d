"""What a mapping's `source:` may say: the REST, SQL and file source settings, and a plug-in kind's.

Part of the mapping vocabulary (etl.config.schema is the whole of it and re-exports these names).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from etl.config.strict import Strict

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
    # walk's max_seconds bounds it (a request never outlasts the walk either way; etl.sources.deadline).
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
