"""The file source: files dropped into a landing folder, each loaded exactly once.

`iter_batches` (the extract) lists the landing folder's files matching the entity's `pattern`, decides
per file from the `etl_files` ledger (`decide`), parses the new ones (`etl.sources.file_readers`) into
all-string Arrow batches with a `_file` column, and writes what it saw (name, sha256, status, rows,
reason) to `files.json` in the entity's run directory. The source only reads: the ledger's history is
handed in, and the load side (`etl.load.ledger`) takes it from there:

* in the load transaction it records every file in `etl_files` and, for a corrected re-delivery,
  deletes the rows the predecessor loaded that the correction no longer contains (rows carry their
  file name in the column mapped from `_file`);
* after the commit it calls `settle` here, which moves each file out of the landing folder: to
  `processed/`, or to `rejected/` with `<name>.reason.txt`.

Decisions, per file name and content (sha256) and per entity:

* new name → read and load; unreadable (bad encoding, broken quoting, missing required columns,
  truncated JSON/XLSX) or a symbolic link pointing outside the landing folder (never followed: a
  sender must not make the product read, load and move any file it can reach) → `rejected`, logged
  as an error. A rejected file has no rows, so it is not part
  of `extracted` in `etl_runs`; it shows in `etl_files` (status, reason, run_id) and in `rejected/`;
  `pages` in `etl_runs` counts the files that were read;
* same name, same checksum as a loaded version → `duplicate`: not read, moved to `processed/`;
* same name, new checksum → a correction: read, merged on the key, and the predecessor's rows missing
  from it are deleted (a row of the correction that fails its checks is quarantined, so its old
  version goes too: the sender's latest word is that the row is not valid).

Several entities may read the same file (`purchase_requests` and `purchase_request_lines` both read
`purchase_requests_*.json`). A file leaves the landing folder only when every entity of the system
whose pattern matches it has a ledger row for that content: the first entity to load it leaves it for
the others, and a run that fails half-way leaves it in place for the next run (where the entities that
already have it record a `duplicate`). If any entity rejected it, it goes to `rejected/`, otherwise to
`processed/`. A file that changed since the extract read it (a re-delivery racing the run) stays.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import orjson
import pyarrow as pa

from etl import runfiles, staging
from etl.columns import FILE_COLUMN
from etl.config.schema import Entity, FileSource
from etl.sources.base import ExtractStats
from etl.sources.file_readers import FileRejected, read_file
from etl.staging import StagingPath

log = logging.getLogger("etl.sources.files")
MANIFEST = "files.json"
PROCESSED, REJECTED = "processed", "rejected"
Seen = tuple[str, str | None]  # (status, reason) of one file version for one entity, from the ledger


@dataclass
class FileEntry:
    """One landing file as the extract saw it; becomes one `etl_files` row."""

    name: str
    checksum: str
    status: str  # loaded | duplicate | rejected
    rows: int = 0
    reason: str | None = None
    replaces: str | None = None  # checksum of the loaded version this one corrects
    deleted: int = 0


def landing_dir(landing: str) -> StagingPath:
    """The landing folder: relative paths live in the staging location (`ETL_STAGING_URL`), so a drop
    into an object store reaches every worker."""
    return staging.resolve(landing)


def landing_files(folder: StagingPath, pattern: str) -> list[StagingPath]:
    """Regular files matching `pattern`, oldest first (a later drop's rows win the merge); hidden files
    (`.name.part` while a sender writes) are not there yet."""
    found = [e for e in staging.listing(folder) if fnmatch.fnmatchcase(e.name, pattern)]
    return [folder / e.name for e in sorted(found, key=lambda e: (e.mtime_ns, e.name))]


def decide(checksum: str, loaded_versions: list[str]) -> tuple[str, str | None]:
    """('duplicate', None), or ('load', checksum it replaces or None) for one file name's history."""
    if checksum in loaded_versions:
        return "duplicate", None
    return "load", (loaded_versions[-1] if loaded_versions else None)


def manifest_path(entity: Entity, run_id: str) -> StagingPath:
    return runfiles.entity_dir(entity.pipeline, run_id, entity.entity) / MANIFEST


def read_manifest(entity: Entity, run_id: str) -> list[FileEntry]:
    path = manifest_path(entity, run_id)
    if not path.exists():
        raise RuntimeError(f"{entity.system}.{entity.entity}: no file manifest {path}; the extract of run "
                           f"{run_id!r} did not finish (re-run the entity's task)")
    return [FileEntry(**e) for e in orjson.loads(path.read_bytes())]


# ------------------------------------------------------------------------------------------------ extract


def iter_batches(entity: Entity, history: dict[str, list[str]], stats: ExtractStats,
                 run_id: str) -> Iterator[pa.Table]:
    """Raw batches of every new file in the landing folder; the ledger (`history`: file name -> loaded
    checksums, oldest first), not the watermark, is the state."""
    cfg = entity.source
    assert isinstance(cfg, FileSource)
    folder = landing_dir(cfg.landing)
    files = landing_files(folder, cfg.pattern)
    entries: list[FileEntry] = []
    batcher = _TableBatcher(cfg.batch_rows)
    for path in files:
        entry, table = _take(path, cfg, history.get(path.name, []), entity)
        entries.append(entry)
        if table is not None:
            stats.pages += 1
            stats.records += table.num_rows
            yield from batcher.add(table)
    yield from batcher.flush()
    write_manifest(entity, run_id, entries)
    counts = {s: sum(e.status == s for e in entries) for s in ("loaded", "duplicate", "rejected")}
    log.info("%s.%s: %d file(s) in %s matching %s: %s", entity.system, entity.entity, len(files), folder,
             cfg.pattern, ", ".join(f"{v} {k}" for k, v in counts.items()))


def outside_link(path: StagingPath) -> str | None:
    """Where `path` leads when it is a local symbolic link out of its own folder (None: a plain file,
    a link to a file inside the folder, or an object in a remote store, which has no links)."""
    if not staging.is_local(path) or not path.is_symlink():
        return None
    target = path.resolve()
    return None if target.is_relative_to(path.parent.resolve()) else str(target)


def fingerprint(path: StagingPath) -> str:
    """sha256 of the file; of the link text for a link out of the folder (its target is never read)."""
    if outside_link(path) is not None:
        return hashlib.sha256(b"symlink:" + os.fsencode(os.readlink(path))).hexdigest()
    return _sha256(path)


def _take(path: StagingPath, cfg: FileSource, versions: list[str],
          entity: Entity) -> tuple[FileEntry, pa.Table | None]:
    target = outside_link(path)
    if target is not None:
        reason = (f"a symbolic link to {target}, outside the landing folder: not followed (files are read "
                  "only from inside the landing folder; copy the file there instead)")
        log.error("REJECTED %s for %s.%s: %s", path, entity.system, entity.entity, reason)
        return FileEntry(path.name, fingerprint(path), "rejected", reason=reason), None
    data = _read(path)  # checksum and parse the same bytes, whatever happens to the file meanwhile
    checksum = hashlib.sha256(data).hexdigest()
    action, replaces = decide(checksum, versions)
    if action == "duplicate":
        log.info("%s: already loaded with this content (sha256 %s): duplicate, not read",
                 path.name, checksum[:12])
        return FileEntry(path.name, checksum, "duplicate"), None
    try:
        table = read_file(data, cfg)
    except FileRejected as exc:
        log.error("REJECTED %s for %s.%s: %s", path, entity.system, entity.entity, exc)
        return FileEntry(path.name, checksum, "rejected", reason=str(exc)), None
    if replaces:
        log.warning("%s is a corrected re-delivery (sha256 %s replaces %s): its rows replace the "
                    "earlier ones", path.name, checksum[:12], replaces[:12])
    table = table.append_column(FILE_COLUMN, pa.array([path.name] * table.num_rows, pa.string())) \
        if FILE_COLUMN not in table.column_names else table
    return FileEntry(path.name, checksum, "loaded", rows=table.num_rows, replaces=replaces), table


def _read(path: StagingPath) -> bytes:
    """The file's bytes; a local plain file is opened without following a link swapped in since the check."""
    if not staging.is_local(path) or path.is_symlink():
        return path.read_bytes()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def _present(path: StagingPath) -> bool:
    """Exists (a local link counts even when its target does not)."""
    return os.path.lexists(path) if staging.is_local(path) else path.exists()


def write_manifest(entity: Entity, run_id: str, entries: list[FileEntry]) -> None:
    path = manifest_path(entity, run_id)
    staging.mkdirs(path.parent, private=True)
    staging.write_atomic(path, orjson.dumps([asdict(e) for e in entries], option=orjson.OPT_INDENT_2),
                         private=True)


class _TableBatcher:
    """Cuts a stream of per-file tables into batches of exactly `rows` rows (the last one shorter)."""

    def __init__(self, rows: int) -> None:
        self.rows, self.count = rows, 0
        self.pending: list[pa.Table] = []

    def add(self, table: pa.Table) -> Iterator[pa.Table]:
        if table.num_rows:
            self.pending.append(table)
            self.count += table.num_rows
        while self.count >= self.rows:
            yield self._take(self.rows)

    def flush(self) -> Iterator[pa.Table]:
        while self.count:
            yield self._take(min(self.count, self.rows))

    def _take(self, n: int) -> pa.Table:
        whole = pa.concat_tables(self.pending, promote_options="default") if len(self.pending) > 1 \
            else self.pending[0]
        rest = whole.slice(n)
        self.pending, self.count = ([rest] if rest.num_rows else []), rest.num_rows
        return whole.slice(0, n)


# ------------------------------------------------------------------------------------------ after commit


def settle(entity: Entity, run_id: str, seen: dict[str, dict[str, Seen]]) -> None:
    """Move each file of this run out of the landing folder once every entity reading it has it.

    `seen`: file name -> entity -> (status, reason) of this run's version, from the committed ledger."""
    cfg = entity.source
    assert isinstance(cfg, FileSource)
    folder = landing_dir(cfg.landing)
    readers = _file_entities(entity)
    for entry in read_manifest(entity, run_id):
        wanted = {name for name, pattern in readers if fnmatch.fnmatchcase(entry.name, pattern)}
        target = destination(wanted | {entity.entity}, seen[entry.name])
        if target is None:
            log.info("%s stays in %s until %s have processed it", entry.name, folder,
                     ", ".join(sorted(wanted - set(seen[entry.name]))))
            continue
        move(folder / entry.name, entry.checksum, folder / target, seen[entry.name], run_id)


def destination(readers: set[str], seen: dict[str, Seen]) -> str | None:
    """Where a file goes once it has been processed: None while an entity reading it has not seen it."""
    if not readers <= set(seen):
        return None
    return REJECTED if any(status == "rejected" for status, _ in seen.values()) else PROCESSED


def _file_entities(entity: Entity) -> list[tuple[str, str]]:
    """(entity, pattern) of every file entity of the system reading the same landing folder."""
    from etl.config.loader import load_system, mappings_dir

    folder = landing_dir(entity.source.landing)  # type: ignore[union-attr]
    system = load_system(mappings_dir() / entity.system, strict=False)
    return [(e.entity, e.source.pattern) for e in system.entities.values()
            if isinstance(e.source, FileSource) and landing_dir(e.source.landing) == folder]


def move(path: StagingPath, checksum: str, folder: StagingPath, seen: dict[str, Seen], run_id: str) -> None:
    """Move `path` into `folder`, keeping an earlier file of the same name as `<stem>.<sha12><suffix>`."""
    if not _present(path):
        return  # another entity's load moved it already
    if fingerprint(path) != checksum:
        log.warning("%s changed since it was read (a new delivery?); it stays for the next run", path)
        return
    staging.mkdirs(folder)
    target = folder / path.name
    if _present(target):
        old = fingerprint(target)
        if old == checksum:
            path.unlink()
            return
        staging.replace(target, target.with_name(f"{target.stem}.{old[:12]}{target.suffix}"))
    if folder.name == REJECTED:
        reasons = "\n".join(f"{entity}: {reason}" for entity, (status, reason) in sorted(seen.items())
                            if status == "rejected")
        (folder / f"{path.name}.reason.txt").write_text(
            f"{path.name} (sha256 {checksum}) was rejected in run {run_id}:\n{reasons}\n", encoding="utf-8")
        log.error("moved %s to %s: %s", path.name, folder, reasons.replace("\n", "; "))
    else:
        log.info("moved %s to %s", path.name, folder)
    try:
        staging.replace(path, target)
    except FileNotFoundError:  # a sibling entity's load (PostgreSQL runs them in parallel) was faster
        pass


def _sha256(path: StagingPath) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
