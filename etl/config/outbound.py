"""The outbound vocabulary: what a `mappings/<target system>/outbound/<sync>.yml` file may say.

An outbound sync (reverse ETL) reads a warehouse table or query, maps its rows with the SAME column
vocabulary as the inbound mappings (`Column`, `Filter`, `Conversion` from `etl.config.schema`: rename
via `source`, cast, normalise, lookup, derive, default, filters, currency and unit conversions, PII
policy) and delivers them to a target: a REST API, a SQL table or files. The file lives under the
target system's folder because that is where its connection and people live; the inbound loader only
globs `<system>/*.yml`, so the `outbound/` sub-folder never reads as an entity.

Errors name the file, line and field exactly as inbound errors do (`etl.config.loader`).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from etl.config.schema import (
    Auth,
    Column,
    Conversion,
    Entity,
    Filter,
    Retry,
    SqlSource,
    Strict,
)

OUTBOUND_DIR = "outbound"
DEFAULTS_FILE = "_defaults.yml"  # optional, per outbound folder: deep-merged under every sync file


class PushSource(Strict):
    """What leaves the warehouse: a table or a SELECT over the conformed model, read in Arrow batches."""

    table: str | None = None
    query: str | None = None
    batch_rows: int = Field(50_000, ge=1)

    @model_validator(mode="after")
    def _one(self) -> PushSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


class Relationship(Strict):
    """Relationship mapping through a warehouse crosswalk: a CRM owner id -> the HR employee id.

    Resolved in the warehouse with a join on `xwalk_person` / `xwalk_customer` (`system`, `record_id`,
    `person_id`/`customer_key`): the record of `from_system` whose id is in `column` is linked to the
    record of `to_system` of the same entity. No counterpart: the row is rejected with that reason when
    `required`, else the output stays null. Never a guess.
    """

    column: str  # source column holding the from_system record id (e.g. owner_id)
    crosswalk: Literal["xwalk_person"] = "xwalk_person"
    from_system: str
    to_system: str
    output: str  # source column name the linked id is exposed as (map it under `columns`)
    required: bool = True


class RestTarget(Strict):
    """A REST API that creates/updates records by external id (idempotent PUT), optionally in batches.

    `path` holds `{key}` (the sync key, URL-encoded). With `batch_path`, records go in POSTs of
    `batch_size` records {"records": [{"external_id": ..., **payload}]} and the response lists one
    result per record (status, id, errors). Updates in mode `update` send `If-Match: *` (update only
    what exists; 404/412 -> rejected). Deletes (mirror) send DELETE, or PATCH `deactivate` fields.
    """

    kind: Literal["rest"] = "rest"
    connection: str  # Airflow Connection id (base URL + secret), e.g. oa_api
    auth: Auth = Auth()
    path: str  # e.g. /api/v1/customers/{key}
    batch_path: str | None = None  # e.g. /api/v1/customers/batch
    batch_size: int = Field(100, ge=1, le=10_000)
    rate_limit_per_s: float | None = Field(None, gt=0)  # requests per second, all requests of the run
    timeout_s: float = Field(30.0, gt=0)
    retry: Retry = Retry()
    id_field: str = "id"  # where the target's own id sits in a response record
    deactivate: dict[str, Any] | None = None  # mirror: PATCH these fields instead of DELETE

    @model_validator(mode="after")
    def _key_in_path(self) -> RestTarget:
        if "{key}" not in self.path:
            raise ValueError("path must contain {key} (the record's external id), e.g. /api/v1/customers/{key}")
        return self


class SqlTarget(Strict):
    """A table of a SQL database (upsert on `key_column`, unique in the target); the database's own id
    (`id_column`, e.g. an identity column) comes back and is kept in push state."""

    kind: Literal["sql"] = "sql"
    connection: str  # Airflow Connection id whose URI is a SQLAlchemy URL, e.g. erp_db
    table: str
    key_column: str  # target column holding the sync key (UNIQUE there)
    id_column: str | None = None  # the target's own id, read back with RETURNING
    batch_size: int = Field(500, ge=1)
    deactivate: dict[str, Any] | None = None  # mirror: UPDATE these columns instead of DELETE


class FileTarget(Strict):
    """One file per run (CSV or XLSX) written atomically into an import folder the target system reads."""

    kind: Literal["file"] = "file"
    folder: str  # relative to ETL_DATA_DIR unless absolute
    format: Literal["csv", "xlsx"] = "csv"
    name: str = "{sync}_{run_id}"  # file name without suffix; {sync} and {run_id} are filled in
    batch_size: int = Field(50_000, ge=1)


class PluginTarget(BaseModel):
    """`target: {kind: <name>, ...}` for a target kind an installed plug-in provides (etl.plugins,
    entry point group etl.targets); its other keys are validated by the plug-in's `Settings` at load."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    @model_validator(mode="after")
    def _plugin_settings(self) -> PluginTarget:
        self.settings  # noqa: B018 - validates; raises ValueError naming the field
        return self

    @property
    def settings(self) -> Any:
        from etl.plugin_registry import target_plugin, validate_settings

        return validate_settings(target_plugin(self.kind), self.kind, dict(self.model_extra or {}))


def _target_tag(value: Any) -> str:
    kind = value.get("kind", "rest") if isinstance(value, dict) else getattr(value, "kind", "rest")
    return kind if kind in ("rest", "sql", "file") else "plugin"


Target = Annotated[
    Annotated[RestTarget, Tag("rest")] | Annotated[SqlTarget, Tag("sql")] | Annotated[FileTarget, Tag("file")]
    | Annotated[PluginTarget, Tag("plugin")],
    Discriminator(_target_tag),
]


class PushSchedule(Strict):
    """Cron in the target's time zone, and/or a run whenever a table the sync reads is loaded."""

    cron: str | None = None
    timezone: str = "UTC"
    on_assets: bool = True  # also run on the Airflow Assets of the warehouse tables in `reads`


class PushQuality(Strict):
    max_reject_share: float = Field(0.1, ge=0, le=1)  # above this share of the selection the run fails
    share_min_rows: int = Field(20, ge=0)  # ...once at least this many records were selected


class Sync(Strict):
    sync: str
    system: str  # the target system (the folder the file sits in)
    description: str = ""
    source: PushSource
    reads: list[str] = []  # warehouse tables the query reads (Assets that trigger it); default: source.table
    key: list[str] = Field(min_length=1)  # output columns forming the external id
    mode: Literal["upsert", "update", "mirror"] = "upsert"
    max_delete_share: float = Field(0.1, ge=0, le=1)  # mirror: more deletes than this share of state stops
    # a record the target refused is sent again once its content changes, or on every run ("always":
    # for refusals that depend on the target, e.g. a manager who is not yet hired)
    resend_rejected: Literal["on_change", "always"] = "on_change"
    relationships: list[Relationship] = []
    columns: dict[str, Column] = Field(min_length=1)  # output field -> how it is made (source = warehouse column)
    not_sent: list[str] = []  # columns only filters and derives use (e.g. lifecycle_stage): never sent
    filters: list[Filter] = []
    conversions: list[Conversion] = []
    target: Target
    schedule: PushSchedule = PushSchedule()
    quality: PushQuality = PushQuality()
    # Output fields holding personal data: masked in etl_push_rejects payloads and scrubbed from reasons.
    pii_fields: list[str] = []
    tags: list[str] = []

    @model_validator(mode="after")
    def _consistent(self) -> Sync:
        if not self.reads and self.source.table:
            object.__setattr__(self, "reads", [self.source.table])
        if self.source.query and not self.reads:
            raise ValueError("reads: a query source must list the warehouse tables it reads (they trigger the sync)")
        entity = self.entity  # validates key, filters and conversions with the inbound rules
        unknown = [f for f in [*self.pii_fields, *self.not_sent] if f not in entity.columns]
        if unknown:
            raise ValueError(f"pii_fields/not_sent: {unknown[0]!r} is not declared under 'columns'")
        if isinstance(self.target, FileTarget) and self.mode != "upsert":
            raise ValueError(f"mode: a file target only supports 'upsert' (a file can neither delete what left "
                             f"the source nor know what exists in the target), not {self.mode!r}")
        if set(self.key) & set(self.not_sent):
            raise ValueError("not_sent: a key column is always sent (it is the external id)")
        self._check_deactivate()
        return self

    def _check_deactivate(self) -> None:
        """`deactivate` only means something in mode mirror, and each of its fields must also be sent: a
        record that comes back into the selection is written with its payload, and only a payload that
        sets the field switches it on again (an SQL upsert leaves unsent columns as they are)."""
        fields = getattr(self.target, "deactivate", None)
        if not fields:
            return
        if self.mode != "mirror":
            raise ValueError(f"target.deactivate: only mode 'mirror' removes records, this sync is {self.mode!r}")
        unsent = [f for f in fields if f not in self.payload_columns]
        if unsent:
            raise ValueError(f"target.deactivate: {unsent[0]!r} must also be sent (declare it under 'columns' with "
                             f"its active value, e.g. {unsent[0]}: {{default: ...}}), or a record that comes back "
                             "into the selection would stay deactivated")

    @property
    def dag_id(self) -> str:
        return f"push_{self.sync}"

    @cached_property
    def entity(self) -> Entity:
        """The sync as an inbound `Entity`, so `etl.transform.mapping.map_batch` maps it unchanged."""
        return Entity(system=self.system, entity=self.sync, target=f"push_{self.sync}", primary_key=self.key,
                      source=SqlSource(connection="warehouse", table=self.source.table or "query"),
                      columns=self.columns, extras="drop", filters=self.filters, conversions=self.conversions)

    @property
    def payload_columns(self) -> list[str]:
        """The fields the target receives: declared columns and conversion outputs, minus `not_sent` and
        `pii: drop` (`hash` and `mask` columns are sent protected)."""
        return [n for n, c in self.entity.columns.items() if n not in self.not_sent and c.pii != "drop"]


def outbound_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob(f"*/{OUTBOUND_DIR}/*.yml") if p.name != DEFAULTS_FILE)


def load_sync(path: Path) -> Sync:
    """One sync file, with `_defaults.yml` of its folder merged under it; MappingError with file:line."""
    from etl.config.loader import SYSTEM_FILE, MappingError, _deep_merge, _format_errors, _read_yaml

    data, lines = _read_yaml(path)
    defaults_path = path.parent / DEFAULTS_FILE
    inherited = None
    if defaults_path.exists():
        defaults, d_lines = _read_yaml(defaults_path)
        data = _deep_merge(defaults, data)
        inherited = (defaults_path, {("defaults", *k): v for k, v in d_lines.items()})
    data.setdefault("sync", path.stem)
    data["system"] = path.parent.parent.name
    try:
        return Sync.model_validate(data)
    except ValidationError as exc:
        text = _format_errors(exc, path, lines, inherited)
        raise MappingError(text.replace(f"(inherited from {SYSTEM_FILE} defaults by", "(inherited by")) from None


def load_syncs(root: Path | None = None) -> dict[str, Sync]:
    """Every outbound sync under `root` (default ETL_MAPPINGS_DIR); all problems in one MappingError."""
    from etl.config.loader import MappingError, mappings_dir

    syncs: dict[str, Sync] = {}
    problems: list[str] = []
    for path in outbound_files(root or mappings_dir()):
        try:
            sync = load_sync(path)
        except MappingError as exc:
            problems.append(str(exc))
            continue
        if sync.sync in syncs:
            problems.append(f"{path}:1: sync: {sync.sync!r} is declared twice")
        syncs[sync.sync] = sync
    if problems:
        raise MappingError("\n".join(problems))
    return syncs
