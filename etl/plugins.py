"""Plug-ins: source kinds, target kinds, transform functions and quality checks from installed packages.

Where configuration ends, a company writes a small Python package and declares its extensions as
entry points (PEP 621 `[project.entry-points."etl.sources"]` ...); nothing in this repository changes.
They are found through `importlib.metadata` (`etl.plugin_registry`), listed by `etl plugins`, and used
by name in the YAML exactly like the built-ins. This module is what a plug-in imports (`SourcePlugin`,
`TargetPlugin`, `PluginSettings`, `SourceContext`; see docs/plugins.md); the registry lives apart so
the config schema can validate plug-in names without importing the sources this context hands out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from etl.plugin_registry import (
    BUILTIN_SOURCES,
    GROUPS,
    PluginError,
    PluginInfo,
    PluginSettings,
    SourcePlugin,
    TargetPlugin,
    check,
    check_arguments,
    list_plugins,
    load,
    source_plugin,
    target_plugin,
    transform,
    validate_settings,
)

__all__ = ["BUILTIN_SOURCES", "GROUPS", "PluginError", "PluginInfo", "PluginSettings", "SourceContext",
           "SourcePlugin", "TargetPlugin", "check", "check_arguments", "list_plugins", "load", "source_plugin",
           "target_plugin", "transform", "validate_settings"]


@dataclass
class SourceContext:
    """What the product hands a source plug-in for one run."""

    watermark: str | None  # the stored watermark (text as the source wrote it), None on a first run
    interval: tuple[str | None, str | None] = (None, None)  # the run's data interval (ISO)
    stats: Any = None  # etl.sources.rest.ExtractStats; the product counts pages and records itself
    pages: int = 0
    _clients: list = field(default_factory=list)

    def connection(self, conn_id: str):
        """The Airflow Connection `conn_id` (env AIRFLOW_CONN_<ID> or Airflow), secrets included."""
        from etl.sources.connections import get_connection

        return get_connection(conn_id)

    def http(self, conn_id: str, auth: dict | None = None, retry: dict | None = None, timeout_s: float = 30.0):
        """An `etl.sources.http.HttpClient` for the connection: the product's retries, backoff and
        error messages (secrets masked); `client.get_json(url, params)` returns a parsed Response."""
        from etl.config.schema import Auth, Retry
        from etl.sources.http import HttpClient

        client = HttpClient(self.connection(conn_id), Auth(**(auth or {})), Retry(**(retry or {})), timeout_s)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()
