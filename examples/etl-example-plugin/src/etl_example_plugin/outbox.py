"""`target: {kind: jsonl_outbox, folder: ...}` - an outbound sync target that appends JSON lines to a
file another system picks up, one outcome per record (the push runner keeps state, diff and audit)."""

from __future__ import annotations

import json
from pathlib import Path

from etl.plugins import PluginSettings, TargetPlugin
from etl.targets.base import Outcome, Record


class OutboxSettings(PluginSettings):
    folder: str
    file_name: str = "{sync}.jsonl"


class _Outbox:
    def __init__(self, path: Path) -> None:
        self.path, self.requests = path, 0

    def write(self, records: list[Record], only_existing: bool) -> list[Outcome]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            for r in records:
                out.write(json.dumps({"key": r.key, "action": r.action, **r.payload}, default=str) + "\n")
        self.requests += 1
        return [Outcome(r.key, "created" if r.action == "create" else "updated", target_id=r.key) for r in records]

    def delete(self, records: list[Record]) -> list[Outcome]:
        return [Outcome(r.key, "rejected", reason="the outbox does not delete") for r in records]

    def finish(self) -> list[Outcome]:
        return []

    def close(self) -> None:
        pass


class JsonlOutboxTarget(TargetPlugin):
    """Appends records as JSON lines to a file in a folder (an outbox another system reads)."""

    Settings = OutboxSettings

    def open(self, settings: OutboxSettings, sync, run_id: str) -> _Outbox:
        name = settings.file_name.format(sync=getattr(sync, "sync", "sync"), run_id=run_id)
        return _Outbox(Path(settings.folder) / name)
