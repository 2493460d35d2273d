"""The plug-in registry: source kinds, target kinds, transform functions and quality checks from
installed packages. `etl.plugins` is the public face plug-in authors import (it adds `SourceContext`);
this module is the part the config schema needs to validate names, so it imports nothing else of etl.

Where configuration ends, a company writes a small Python package and declares its extensions as
entry points (PEP 621 `[project.entry-points."etl.sources"]` ...); nothing in this repository changes.
They are found through `importlib.metadata`, listed by `etl plugins`, and used by name in the YAML
exactly like the built-ins, with the same load-time validation (an unknown name, or a setting the
plug-in's own pydantic model refuses, fails the mapping with file, line and field). See docs/plugins.md.

    etl.sources     name -> a `SourcePlugin` subclass     (source: {kind: <name>, ...})
    etl.transforms  name -> a function of Arrow arrays     (derive: {function: <name>, ...})
    etl.checks      name -> a row check of an Arrow table  (quality: {checks: [{check: <name>, ...}]})
    etl.targets     name -> a target class for outbound syncs (resolved by etl.targets via `load`)

A built-in name always wins: a plug-in cannot silently replace `rest` or `company_key`.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from etl.plugins import SourceContext

log = logging.getLogger("etl.plugins")

GROUPS = {"sources": "etl.sources", "transforms": "etl.transforms", "checks": "etl.checks", "targets": "etl.targets"}
BUILTIN_SOURCES = ("rest", "sql", "files")


class PluginError(ValueError):
    """A name no installed plug-in provides, or a plug-in that does not load; says what is installed."""


@dataclass(frozen=True)
class PluginInfo:
    kind: str  # sources, transforms, checks, targets
    name: str
    target: str  # module:attribute
    package: str  # the distribution that declares it
    version: str
    doc: str = ""


# ------------------------------------------------------------------------------------------- the API


class PluginSettings(BaseModel):
    """Base for a source plug-in's settings: unknown keys are errors, as in the built-in schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SourcePlugin:
    """Subclass, set `Settings` (a PluginSettings model) and implement `read`.

    `read` yields pages: lists of JSON-like records (dicts) or Arrow tables. The product flattens them
    to its raw all-text layer, batches them, counts them and, when the settings have a `cursor_field`,
    keeps the largest value of that field as the next run's watermark.
    """

    Settings: ClassVar[type[PluginSettings]] = PluginSettings

    def read(self, settings: Any, ctx: SourceContext) -> Iterator[list[dict] | pa.Table]:
        raise NotImplementedError


class TargetPlugin:
    """Subclass, set `Settings` and implement `open`: return an object with the target protocol of
    etl.targets.base (`write`, `delete`, `finish`, `close`, a `requests` count): batches of records in,
    one outcome per record out. The push runner does the diff, push state, rejects and audit."""

    Settings: ClassVar[type[PluginSettings]] = PluginSettings

    def open(self, settings: Any, sync: Any, run_id: str) -> Any:
        raise NotImplementedError


def validate_settings(plugin: Any, kind: str, settings: dict[str, Any]) -> Any:
    """`settings` validated by the plug-in's own model; ValueError naming each bad field."""
    from pydantic import ValidationError

    try:
        return plugin.Settings.model_validate(settings)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: "
            + ("unknown setting" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, "))
            for e in exc.errors())
        raise ValueError(f"kind {kind!r} (plug-in {plugin.__module__}): {problems}") from None


# ----------------------------------------------------------------------------------------- discovery


def _entry_points(kind: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUPS[kind])}


@functools.cache
def load(kind: str, name: str) -> Any:
    """The object the entry point `name` of group `kind` names; PluginError if none or it fails."""
    eps = _entry_points(kind)
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise PluginError(f"no {kind[:-1]} plug-in named {name!r} (installed {kind} plug-ins: {known})")
    try:
        return eps[name].load()
    except Exception as exc:  # a broken plug-in must name itself, not crash config loading obscurely
        raise PluginError(f"{kind[:-1]} plug-in {name!r} ({eps[name].value}) failed to load: "
                          f"{type(exc).__name__}: {exc}") from exc


def list_plugins() -> list[PluginInfo]:
    """Every installed plug-in, by kind and name (the `etl plugins` command prints this)."""
    out = []
    for kind in GROUPS:
        for name, ep in sorted(_entry_points(kind).items()):
            dist = getattr(ep, "dist", None)
            try:
                doc = (inspect.getdoc(ep.load()) or "").split("\n")[0]
            except Exception as exc:
                doc = f"(does not load: {type(exc).__name__}: {exc})"
            out.append(PluginInfo(kind, name, ep.value, dist.name if dist else "?", dist.version if dist else "?", doc))
    return out


def source_plugin(kind: str) -> type[SourcePlugin]:
    if kind in BUILTIN_SOURCES:
        raise PluginError(f"{kind!r} is a built-in source kind")
    try:
        plugin = load("sources", kind)
    except PluginError as exc:
        raise PluginError(f"unknown source kind {kind!r}; built-in: {', '.join(BUILTIN_SOURCES)}; {exc}") from None
    if not (inspect.isclass(plugin) and issubclass(plugin, SourcePlugin)):
        raise PluginError(f"source plug-in {kind!r} must be a subclass of etl.plugins.SourcePlugin")
    return plugin


def target_plugin(kind: str, builtin: tuple[str, ...] = ("rest", "sql", "file")) -> type[TargetPlugin]:
    try:
        plugin = load("targets", kind)
    except PluginError as exc:
        raise PluginError(f"unknown target kind {kind!r}; built-in: {', '.join(builtin)}; {exc}") from None
    if not (inspect.isclass(plugin) and issubclass(plugin, TargetPlugin)):
        raise PluginError(f"target plug-in {kind!r} must be a subclass of etl.plugins.TargetPlugin")
    return plugin


def transform(name: str) -> Callable[..., pa.Array]:
    return load("transforms", name)  # type: ignore[no-any-return]


def check(name: str) -> Callable[..., Any]:
    return load("checks", name)  # type: ignore[no-any-return]


def check_arguments(fn: Callable[..., Any], what: str, args: int, kwargs: dict[str, Any]) -> None:
    """Refuse at config load a call the function's signature would refuse at run time."""
    try:
        inspect.signature(fn).bind(*([None] * args), **kwargs)
    except TypeError as exc:
        raise PluginError(f"{what}: {exc}") from None
