"""A file target: one CSV or XLSX file per run in the target system's import folder, written atomically.

Systems that import files pick up whatever appears in their folder, so a half-written file must never
appear: rows go to a hidden temporary file in the same folder, which is renamed into place (atomic on one
file system) when the run finishes. Only then are the records `created`/`updated` (outcomes are
deferred), so push state never claims a file that does not exist. A file has no per-record refusal and
no delete: mirror on a file target is refused by the runner.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from etl.config.outbound import FileTarget
from etl.targets.base import Outcome, Record


def import_folder(folder: str) -> Path:
    from etl.runfiles import data_dir

    path = Path(folder)
    return path if path.is_absolute() else data_dir() / path


class FileDropTarget:
    def __init__(self, cfg: FileTarget, sync: str, run_id: str) -> None:
        self.cfg = cfg
        self.folder = import_folder(cfg.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        safe_run = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
        self.path = self.folder / f"{cfg.name.format(sync=sync, run_id=safe_run)}.{cfg.format}"
        self.tmp = self.folder / f".{self.path.name}.tmp"
        self.rows: list[Record] = []
        self.requests = 0

    def write(self, records: list[Record], only_existing: bool) -> list[Outcome]:
        self.rows.extend(records)
        return []

    def delete(self, records: list[Record]) -> list[Outcome]:
        raise NotImplementedError("a file target cannot delete; use mode upsert")

    def finish(self) -> list[Outcome]:
        if not self.rows:
            return []
        header = ["external_id", *self.rows[0].payload]
        if self.cfg.format == "csv":
            with self.tmp.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(header)
                for r in self.rows:
                    writer.writerow([r.key, *("" if v is None else v for v in r.payload.values())])
        else:
            from openpyxl import Workbook

            book = Workbook(write_only=True)
            sheet = book.create_sheet("records")
            sheet.append(header)
            for r in self.rows:
                sheet.append([r.key, *(v if isinstance(v, int | float | str) or v is None else str(v)
                                       for v in r.payload.values())])
            book.save(self.tmp)
        os.replace(self.tmp, self.path)
        self.requests += 1
        return [Outcome(r.key, "created" if r.action == "create" else "updated") for r in self.rows]

    def close(self) -> None:
        self.tmp.unlink(missing_ok=True)
