"""Build the core and mart tables from `etl/models/sql/<layer>/<name>.sql`, in dependency order.

A model file is one SELECT under a comment header in YAML (description, grain, columns). A model
depends on every other model whose name it mentions, so no `ref()` syntax is needed; a cycle or an
unknown layer is an error. Every model is dropped and recreated as a table (`CREATE TABLE ... AS`), all
in one transaction: analysts see the old tables or the new ones, never a half-built mix. The SQL is
written once for DuckDB and PostgreSQL: only functions and spellings both accept.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import yaml

from etl.load.warehouse import quote, transaction
from etl.models.staging import ensure_staging_tables

log = logging.getLogger(__name__)
SQL_DIR = Path(__file__).parent / "sql"
LAYERS = ("core", "marts")  # built in this order when dependencies allow; marts read core, never the reverse


class ModelError(ValueError):
    """A model file is malformed (header, layer, dependency cycle); the message names the file."""


@dataclass(frozen=True)
class Model:
    name: str
    layer: str
    path: Path
    sql: str
    description: str
    grain: str
    columns: dict[str, str]
    depends_on: tuple[str, ...] = field(default=())


def _split_header(path: Path) -> tuple[dict, str]:
    """The leading `--` comment block as YAML, and the SQL after it."""
    header, body, in_header = [], [], True
    for line in path.read_text(encoding="utf-8").splitlines():
        if in_header and line.startswith("--"):
            header.append(line[3:] if line.startswith("-- ") else line[2:])
            continue
        in_header = False
        body.append(line)
    try:
        doc = yaml.safe_load("\n".join(header)) or {}
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: the comment header is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ModelError(f"{path}: the comment header must be YAML settings (description, grain, columns)")
    sql = "\n".join(body).strip().rstrip(";").strip()
    if not sql:
        raise ModelError(f"{path}: no SELECT after the header")
    return doc, sql


def _read_model(path: Path, layer: str) -> Model:
    doc, sql = _split_header(path)
    missing = [k for k in ("description", "grain", "columns") if not doc.get(k)]
    if missing:
        raise ModelError(f"{path}:1: the header needs '{missing[0]}' (analysts read it in docs/warehouse.md)")
    if not isinstance(doc["columns"], dict):
        raise ModelError(f"{path}:1: 'columns' must map each column name to its meaning")
    return Model(path.stem, layer, path, sql, str(doc["description"]).strip(), str(doc["grain"]).strip(),
                 {str(k): str(v) for k, v in doc["columns"].items()})


def discover(sql_dir: Path = SQL_DIR) -> dict[str, Model]:
    models: dict[str, Model] = {}
    for folder in sorted(p for p in sql_dir.iterdir() if p.is_dir()):
        if folder.name not in LAYERS:
            raise ModelError(f"{folder}: unknown layer {folder.name!r}; expected one of {', '.join(LAYERS)}")
        for path in sorted(folder.glob("*.sql")):
            if path.stem in models:
                raise ModelError(f"{path}: model {path.stem!r} is also defined in {models[path.stem].path}")
            models[path.stem] = _read_model(path, folder.name)
    names = set(models)
    for name, m in models.items():
        refs = {w for w in re.findall(r"\b[a-z_][a-z0-9_]*\b", _strip_comments(m.sql)) if w in names} - {name}
        models[name] = Model(**{**m.__dict__, "depends_on": tuple(sorted(refs))})
    return models


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def build_order(models: dict[str, Model]) -> list[Model]:
    """Dependencies first; ties in layer order, then by name (a stable order for logs and tests)."""
    ordered: list[Model] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ModelError(f"{models[name].path}: dependency cycle {' -> '.join([*path, name])}")
        state[name] = "visiting"
        for dep in models[name].depends_on:
            visit(dep, [*path, name])
        state[name] = "done"
        ordered.append(models[name])

    for m in sorted(models.values(), key=lambda m: (LAYERS.index(m.layer), m.name)):
        visit(m.name, [])
    for m in ordered:
        if any(LAYERS.index(models[d].layer) > LAYERS.index(m.layer) for d in m.depends_on):
            raise ModelError(f"{m.path}: a {m.layer} model cannot read a later layer "
                             f"({', '.join(m.depends_on)})")
    return ordered


def build_models(url: str | None = None, sql_dir: Path = SQL_DIR) -> dict[str, int]:
    """Recreate every model as a table; returns {model name: rows}. Needs the xwalk_* tables."""
    order = build_order(discover(sql_dir))
    counts: dict[str, int] = {}
    with transaction(url) as conn:
        ensure_staging_tables(conn)
        for model in order:
            started = time.monotonic()
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(model.name)}"))
            try:
                conn.execute(sa.text(f"CREATE TABLE {quote(model.name)} AS\n{model.sql}"))
            except sa.exc.DBAPIError as exc:
                raise ModelError(f"{model.path}: {type(exc.orig).__name__}: {exc.orig}".strip()) from exc
            count = conn.execute(sa.text(f"SELECT count(*) FROM {quote(model.name)}")).scalar_one()
            counts[model.name] = count
            log.info("%s.%s: %d rows in %.2fs", model.layer, model.name, counts[model.name],
                     time.monotonic() - started)
    log.info("models built: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts
