"""Load and validate `mappings/<system>/*.yml`, with errors that point at the file, line and field.

A system folder holds `_system.yml` (schedule, tags, `defaults`) and one file per entity. Defaults are
deep-merged under each entity before validation, so an entity states only what differs.
"""

from __future__ import annotations

import graphlib
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from etl.config.schema import Entity, System

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SYSTEM_FILE = "_system.yml"


class MappingError(ValueError):
    """A mapping file is invalid; the message is meant for the data engineer who wrote it."""


@dataclass(frozen=True)
class SystemConfig:
    system: System
    entities: dict[str, Entity] = field(default_factory=dict)
    folder: Path = Path()
    # lenient loads only: entity name (its file's stem) -> the file:line errors that disabled it
    broken: dict[str, str] = field(default_factory=dict)


def mappings_dir() -> Path:
    return Path(os.environ.get("ETL_MAPPINGS_DIR", PROJECT_ROOT / "mappings"))


def _line_index(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map every key path in a YAML document to its 1-based line number."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, key.value)
            out[sub] = key.start_mark.line + 1
            _line_index(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), out)
    return out


def _read_yaml(path: Path) -> tuple[dict, dict[tuple, int]]:
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise MappingError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{path}:1: expected a mapping of settings at the top level")
    return data, _line_index(node) if node else {}


def _deep_merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _nearest(lines: dict[tuple, int], loc: tuple) -> tuple:
    while loc and loc not in lines:
        loc = loc[:-1]
    return loc


def _where(loc: tuple, path: Path, lines: dict[tuple, int], inherited: tuple[Path, dict] | None) -> str:
    """The file and line a setting came from: the entity file, or the system defaults it inherited."""
    if loc in lines or inherited is None:
        return f"{path}:{lines.get(_nearest(lines, loc), 1)}"
    sys_path, sys_lines = inherited
    in_defaults = _nearest(sys_lines, ("defaults", *loc))
    if len(in_defaults) > 1 and len(in_defaults) - 1 > len(_nearest(lines, loc)):
        return f"{sys_path}:{sys_lines[in_defaults]} (inherited from {SYSTEM_FILE} defaults by {path.name})"
    return f"{path}:{lines.get(_nearest(lines, loc), 1)}"


def _format_errors(exc: ValidationError, path: Path, lines: dict[tuple, int],
                   inherited: tuple[Path, dict] | None = None) -> str:
    messages = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in ("rest", "sql", "files", "plugin")))
        field_name = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting (check the spelling against the mapping reference in README.md)"
        elif err["type"] == "missing":
            msg = "required setting is missing"
        messages.append(f"{_where(loc, path, lines, inherited)}: {field_name}: {msg}")
    return "\n".join(messages)


def load_system(folder: Path, strict: bool = True) -> SystemConfig:
    """Load one system folder. Strict (the CLI, tests): raise MappingError listing every problem.
    Lenient (DAG parsing): a broken entity file disables only that entity, listed in `broken` with its
    errors, so one typo cannot take a whole DAG (and the DAGs scheduled on its assets) out of the UI."""
    sys_path = folder / SYSTEM_FILE
    if not sys_path.exists():
        raise MappingError(f"{sys_path}: missing; every mappings/<system>/ folder needs a {SYSTEM_FILE}")
    sys_data, sys_lines = _read_yaml(sys_path)
    sys_data.setdefault("system", folder.name)
    if sys_data["system"] != folder.name:  # the folder names the DAG, `system:` the tables: never two names
        raise MappingError(f"{sys_path}:{sys_lines.get(('system',), 1)}: system: {sys_data['system']!r} but the "
                           f"folder is {folder.name!r}; the folder name is the system's name: rename the folder "
                           "or change (or drop) `system:`")
    try:
        system = System.model_validate(sys_data)
    except ValidationError as exc:
        raise MappingError(_format_errors(exc, sys_path, sys_lines)) from None
    entities, broken = {}, {}
    paths: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yml")):
        if path.name == SYSTEM_FILE:
            continue
        try:
            entity = load_entity(path, system, (sys_path, sys_lines))
        except MappingError as exc:
            broken[path.stem] = str(exc)
            continue
        if entity.entity in entities:
            broken[path.stem] = f"{path}:1: entity: {entity.entity!r} is declared twice in {folder}"
            continue
        entities[entity.entity] = entity
        paths[entity.entity] = path
    problems: dict[str, list[str]] = {}
    entities = dependency_order(entities, paths, problems, set(broken))
    for name, messages in problems.items():
        broken[name] = "\n".join(messages)
        entities.pop(name, None)
    if broken and strict:
        raise MappingError("\n".join(broken[k] for k in sorted(broken)))
    return SystemConfig(system=system, entities=entities, folder=folder, broken=broken)


def dependency_order(entities: dict[str, Entity], paths: dict[str, Path],
                     problems: dict[str, list[str]], broken: Collection[str] = ()) -> dict[str, Entity]:
    """The entities with every `depends_on` before its dependants (file order otherwise), so an
    in-process run of `cfg.entities` in order loads e.g. fx_rates before the orders it converts.
    A dependency on a `broken` entity is kept (its task fails, so the dependant waits upstream_failed).
    An unknown dependency, or every entity on a cycle, is reported in `problems` with its file and line."""

    def where(name: str) -> str:  # read the file again only to point at a problem
        return f"{paths[name]}:{_read_yaml(paths[name])[1].get(('depends_on',), 1)}: depends_on"

    known = ", ".join(sorted(entities))
    for name, entity in entities.items():
        for dep in entity.depends_on:
            if dep not in entities and dep not in broken:
                problems.setdefault(name, []).append(f"{where(name)}: no entity {dep!r} in this system; known: {known}")
    graph = {name: [d for d in e.depends_on if d in entities] for name, e in entities.items()}
    while True:
        sorter = graphlib.TopologicalSorter(graph)
        try:
            sorter.prepare()
            break
        except graphlib.CycleError as exc:
            cycle = exc.args[1][:-1][::-1]  # graphlib walks dependants; read it as "a depends on b"
            first = cycle.index(min(cycle))
            cycle = cycle[first:] + cycle[:first]
            text = " -> ".join([*cycle, cycle[0]])
            for name in cycle:  # every file on the cycle is named; none of them can run
                problems.setdefault(name, []).append(f"{where(name)}: cycle {text}")
                graph.pop(name)
            graph = {n: [d for d in deps if d in graph] for n, deps in graph.items()}
    position = {name: i for i, name in enumerate(entities)}
    ordered: dict[str, Entity] = {}
    while sorter.is_active():
        for name in sorted(sorter.get_ready(), key=position.__getitem__):
            ordered[name] = entities[name]
            sorter.done(name)
    return ordered


def load_entity(path: Path, system: System, inherited: tuple[Path, dict] | None = None) -> Entity:
    data, lines = _read_yaml(path)
    data.setdefault("entity", path.stem)
    data = _deep_merge(system.defaults, data)
    data["system"] = system.system
    try:
        return Entity.model_validate(data)
    except ValidationError as exc:
        raise MappingError(_format_errors(exc, path, lines, inherited)) from None


def system_folders(root: Path | None = None) -> list[Path]:
    root = root or mappings_dir()
    return [p for p in sorted(root.iterdir()) if (p / SYSTEM_FILE).exists()]


def load_all(root: Path | None = None, strict: bool = True) -> dict[str, SystemConfig]:
    """Every system. Lenient: a system whose `_system.yml` is broken is left out (its own DAG reports it)."""
    out = {}
    for folder in system_folders(root):
        try:
            out[folder.name] = load_system(folder, strict)
        except MappingError:
            if strict:
                raise
    return out
