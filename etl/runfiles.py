"""Run-scoped Parquet files that carry batches between the tasks of one entity.

XCom carries only counts and paths; the rows themselves wait on disk, one file per bounded batch, so a
task can be retried and memory stays flat however large the extract.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from etl.config.loader import PROJECT_ROOT


def data_dir() -> Path:
    return Path(os.environ.get("ETL_DATA_DIR", PROJECT_ROOT / "var"))


def entity_dir(pipeline: str, run_id: str, entity: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)
    return data_dir() / "runs" / pipeline / safe / entity


class PartWriter:
    """Writes numbered Parquet parts into a fresh folder (a retried task starts clean)."""

    def __init__(self, folder: Path):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        self.folder, self.files, self.rows = folder, 0, 0

    def write(self, batch: pa.Table, name: str | None = None) -> None:
        pq.write_table(batch, self.folder / (name or f"part-{self.files:05d}.parquet"), compression="zstd")
        self.files += 1
        self.rows += batch.num_rows


def write_parts(folder: Path, batches: Iterable[pa.Table]) -> tuple[int, int]:
    """Replace `folder` with one Parquet file per batch; return (files, rows)."""
    writer = PartWriter(folder)
    for batch in batches:
        writer.write(batch)
    return writer.files, writer.rows


def part_paths(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet")) if folder.exists() else []


def read_parts(folder: Path) -> Iterator[tuple[Path, pa.Table]]:
    for path in part_paths(folder):
        yield path, pq.read_table(path)


def remove(pipeline: str, run_id: str, entity: str) -> None:
    shutil.rmtree(entity_dir(pipeline, run_id, entity), ignore_errors=True)
