"""Where one task hands data to the next, on whatever host it runs: the `ETL_STAGING_URL` setting.

Two kinds of files cross task boundaries: an entity's run files (`etl.runfiles`: the extract writes them,
transform, validate and load read them) and the files an outside system drops for a file source (the
OA landing folder: `etl.sources.files` reads it, `etl.orchestration.triggers` watches it). On one
machine both may sit on local disk; with workers on several hosts (CeleryExecutor, README "Production")
they must sit where every worker can read them. One URL names that place:

* unset, a plain path or `file://...`: a local folder (default `ETL_DATA_DIR`, i.e. `./var`). Paths are
  `pathlib.Path`, so the single-machine speed is untouched.
* `s3://bucket/prefix` or any other fsspec URL (`gs://`, `abfs://`, `memory://`): paths are
  `upath.UPath` objects on fsspec, the layer Airflow's `ObjectStoragePath` builds on (which itself
  needs a provider per scheme; fsspec alone needs only `s3fs`, in the `distributed` extra). Credentials
  and the endpoint come from the store's usual environment (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL` for
  MinIO, an instance role), never from the URL, so nothing secret travels in XCom or logs.

Object stores have no rename, no empty directories and no file modes, and fsspec caches listings per
process. The few helpers here hide those differences; `listing` always asks the store afresh, so a
long-lived triggerer sees files that other hosts dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from etl.config.loader import PROJECT_ROOT

StagingPath = Any  # a pathlib.Path locally, an upath.UPath in a remote store (both have the Path API)


def data_dir() -> Path:
    """This host's own scratch folder (reports, snapshots); the default staging location too."""
    return Path(os.environ.get("ETL_DATA_DIR", PROJECT_ROOT / "var"))


def staging_url() -> str:
    return os.environ.get("ETL_STAGING_URL") or str(data_dir())


def is_remote_url(url: str) -> bool:
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme.lower() not in ("file", "local") and len(scheme) > 1


def _local(url: str) -> Path:
    for prefix in ("file://", "local://"):
        url = url.removeprefix(prefix)
    return Path(url).expanduser()


def _remote(url: str):
    from upath import UPath  # imported only for a remote store: local runs never pay for it

    return UPath(url)


def root() -> StagingPath:
    """The staging location itself: run files under `runs/`, landing folders at their relative paths."""
    url = staging_url()
    return _remote(url) if is_remote_url(url) else _local(url)


def resolve(location: str) -> StagingPath:
    """A configured folder (a landing folder): a URL or an absolute path as is, else under `root()`."""
    if is_remote_url(location):
        return _remote(location)
    path = _local(location)
    return path if path.is_absolute() else root() / location


def is_local(path: StagingPath) -> bool:
    return isinstance(path, Path)


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    mtime_ns: int  # an object store's times have 1 s resolution: `tag` tells two versions apart
    tag: str = ""  # ETag or checksum when the store reports one


def _mtime_ns(info: dict) -> int:
    """Modification time of an fsspec listing entry (the key differs per store), in ns since 1970."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, (int, float)):
            return int(value * 1e9)
        if isinstance(value, str) and value:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9)
    return 0


def listing(folder: StagingPath) -> list[Entry]:
    """Regular, non-hidden files directly in `folder` (none if it does not exist), asked afresh."""
    found: list[Entry] = []
    if is_local(folder):
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return found
        for entry in entries:
            try:
                if not entry.name.startswith(".") and entry.is_file():
                    info = entry.stat()
                    found.append(Entry(entry.name, info.st_size, info.st_mtime_ns))
            except FileNotFoundError:  # moved away between listing and stat
                continue
        return found
    fs, path = folder.fs, folder.path
    fs.invalidate_cache(path)
    try:
        infos = fs.ls(path, detail=True)
    except FileNotFoundError:
        return found
    for info in infos:
        name = info["name"].rstrip("/").rsplit("/", 1)[-1]
        if info.get("type") == "file" and not name.startswith("."):
            tag = str(info.get("ETag") or info.get("etag") or info.get("md5Hash") or "")
            found.append(Entry(name, int(info.get("size") or 0), _mtime_ns(info), tag))
    return found


def walk_files(folder: StagingPath) -> list[tuple[str, int]]:
    """(path relative to `folder`, mtime_ns) of every file below `folder`, at any depth."""
    if is_local(folder):
        out = []
        for dirpath, _, files in os.walk(folder):
            for name in files:
                full = os.path.join(dirpath, name)
                try:
                    out.append((os.path.relpath(full, folder), os.stat(full).st_mtime_ns))
                except FileNotFoundError:
                    continue
        return out
    fs, base = folder.fs, folder.path.rstrip("/")
    fs.invalidate_cache(base)
    try:
        infos = fs.find(base, detail=True)
    except FileNotFoundError:
        return []
    return [(name[len(base):].lstrip("/"), _mtime_ns(info)) for name, info in infos.items()
            if info.get("type", "file") == "file"]


def mkdirs(folder: StagingPath, private: bool = False) -> None:
    """Create a local folder (missing levels with mode 0700 when `private`); object stores need none."""
    if not is_local(folder):
        return
    if private:
        for attempt in range(3):  # a sibling may remove an empty parent meanwhile (`runfiles.remove`)
            try:
                for level in reversed([p for p in (folder, *folder.parents) if not p.exists()]):
                    level.mkdir(mode=0o700, exist_ok=True)
                return
            except FileNotFoundError:
                if attempt == 2:
                    raise
    else:
        folder.mkdir(parents=True, exist_ok=True)


def write_atomic(path: StagingPath, data: bytes, private: bool = False) -> None:
    """Write a whole file that no reader sees half-written (local: a hidden temp file, then rename;
    an object store's PUT is atomic already)."""
    if not is_local(path):
        path.write_bytes(data)
        return
    temp = path.with_name(f".{path.name}.part")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(temp, path)


def replace(source: StagingPath, target: StagingPath) -> None:
    """Move a file (an object store copies then deletes); FileNotFoundError if `source` is gone."""
    if is_local(source):
        os.replace(source, target)
        return
    if not source.exists():
        raise FileNotFoundError(str(source))
    source.fs.mv(source.path, target.path)


def remove_tree(folder: StagingPath) -> None:
    """Remove a folder and everything under it; nothing if it is not there."""
    if is_local(folder):
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        return
    fs = folder.fs
    fs.invalidate_cache(folder.path)
    try:
        fs.rm(folder.path, recursive=True)
    except FileNotFoundError:
        pass
