"""`etl new <system> <entity>`: a mapping file and a starter expectation suite from a template, checked
with the same loader a run uses, so the first thing a data engineer edits already parses.

A new system also gets its `_system.yml` (connection, auth, paging defaults); an existing system's
defaults are inherited, so the entity file states only what differs. Nothing is ever overwritten.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from etl.config.loader import SYSTEM_FILE, load_system, mappings_dir

NAME = re.compile(r"^[a-z][a-z0-9_]*$")

SYSTEM_TEMPLATES = {
    "rest": """\
# Shared by every {system} entity. Secrets live in the Airflow connection, never here.
system: {system}
description: {system} REST API
schedule: {{cron: "0 * * * *", timezone: UTC, catchup: false}}
tags: [{system}, rest]
defaults:
  freshness: 26h                 # alert when an entity's last successful load is older than this
  source:
    kind: rest
    connection: {system}_api      # AIRFLOW_CONN_{upper}_API: https://:<token>@host
    auth: {{type: bearer}}
    records_path: results
    paginator: {{type: json_cursor, cursor_path: paging.next.after, cursor_param: after}}
    incremental: {{cursor_field: updatedAt, param: updatedAfter}}
""",
    "sql": """\
system: {system}
description: {system} database
schedule: {{cron: "0 * * * *", timezone: UTC, catchup: false}}
tags: [{system}, sql]
defaults:
  freshness: 26h
  source:
    kind: sql
    connection: {system}_db       # AIRFLOW_CONN_{upper}_DB: postgresql://user:pw@host:5432/db
    incremental: {{cursor_field: updated_at, lag_s: 60}}
""",
    "files": """\
system: {system}
description: {system} file drops
schedule: {{cron: "0 * * * *", timezone: UTC, catchup: false}}
tags: [{system}, files]
defaults:
  freshness: 26h
  source: {{kind: files, landing: {system}/landing, format: csv}}
""",
}

ENTITY_TEMPLATES = {
    "rest": "source: {{path: /{entity}}}\n",
    "sql": "source: {{table: {entity}}}\n",
    "files": 'source: {{pattern: "{entity}_*.csv", required_columns: [id]}}\n',
}

ENTITY_BODY = """\
description: TODO what one row of {entity} is, and who uses it.
primary_key: [id]
{source}columns:
  id: {{type: string}}
  name: {{normalise: [collapse_spaces]}}
  updated_at: {{source: {cursor}, type: timestamp}}
{extra}"""


class ScaffoldError(ValueError):
    """The names are invalid or the files exist already."""


def _check_names(system: str, entity: str) -> None:
    for what, name in (("system", system), ("entity", entity)):
        if not NAME.match(name):
            raise ScaffoldError(f"{what} name {name!r}: use lower case letters, digits and _ (e.g. crm, contacts)")


def _kind_of(folder: Path) -> str:
    cfg = load_system(folder, strict=False)
    return str(cfg.system.defaults.get("source", {}).get("kind", "rest"))


def scaffold(system: str, entity: str, kind: str | None = None, root: Path | None = None,
             expectations: Path | None = None) -> list[Path]:
    """Write the files; return their paths. Raise ScaffoldError instead of overwriting anything."""
    from etl.quality.suites import suite_path

    _check_names(system, entity)
    folder = (root or mappings_dir()) / system
    sys_file, entity_file = folder / SYSTEM_FILE, folder / f"{entity}.yml"
    target = f"stg_{system}__{entity}"
    suite_file = (expectations / f"{target}.json") if expectations else suite_path(target)
    existing = [p for p in (entity_file, suite_file) if p.exists()]
    if existing:
        raise ScaffoldError(f"{existing[0]} exists already; edit it, or pick another entity name")
    new_system = not sys_file.exists()
    kind = kind or ("rest" if new_system else _kind_of(folder))
    if kind not in ENTITY_TEMPLATES:
        raise ScaffoldError(f"kind {kind!r}: expected one of {', '.join(ENTITY_TEMPLATES)}")
    written = []
    if new_system:
        folder.mkdir(parents=True, exist_ok=True)
        sys_file.write_text(SYSTEM_TEMPLATES[kind].format(system=system, upper=system.upper()), encoding="utf-8")
        written.append(sys_file)
    cursor = {"rest": "updatedAt", "sql": "updated_at", "files": "updated_at"}[kind]
    extra = "  source_file: {source: _file}   # the file a row came from\n" if kind == "files" else ""
    entity_file.write_text(ENTITY_BODY.format(entity=entity, cursor=cursor, extra=extra,
                                              source=ENTITY_TEMPLATES[kind].format(entity=entity)),
                           encoding="utf-8")
    written.append(entity_file)
    suite = {"name": target, "meta": {"owner": "data-engineering"}, "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"},
         "meta": {"why": "the merge key"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}, "meta": {}}]}
    suite_file.parent.mkdir(parents=True, exist_ok=True)
    suite_file.write_text(json.dumps(suite, indent=2) + "\n", encoding="utf-8")
    written.append(suite_file)
    load_system(folder)  # the template must parse; a failure here is a bug in this module
    return written
