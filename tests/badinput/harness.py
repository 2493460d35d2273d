"""The bad-input corpus harness: one table of cases, one runner, one accounting rule.

A `Case` says what is bad, where it enters (a REST page, a SQL row, a file, the mapping itself) and
what must happen. `run_case` builds a throw-away system `bad` with one entity `items` from a base
mapping for that entry point (deep-merged with the case's `mapping` overrides), feeds the case's data
through a real source (an HTTP server on 127.0.0.1, a SQLite database, a landing folder), runs the four
steps in-process into a fresh DuckDB (and PostgreSQL when the case asks), and checks:

* the outcome: `loaded` (values as given), `quarantined` (rule and reason), `rejected` (the file, with
  its reason in `etl_files`), `failed` (the run raised, the error names what to fix, etl_runs says
  failed, and nothing was committed: no rows, no quarantine, no watermark) or `invalid` (the mapping
  is refused when it is loaded, naming the field);
* no silent loss and nothing invented: every record the source sent (every JSON object with an `id`,
  every SQL row, every CSV row) is in the target table, in `etl_quarantine`, in a rejected file, or the
  run failed with nothing committed; the target holds no id the source did not send.

Case modules are `tests/badinput/cases_*.py`, each with a plain list `CASES`; `test_corpus.py` runs
them all. Helpers below (`rec`, `pages`, `csv_bytes`) keep a case to a few lines.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
import yaml

from tests.helpers.http_server import Reply, Request, serve

Enters = Literal["rest", "sql", "file", "config"]
Expect = Literal["loaded", "quarantined", "rejected", "failed", "invalid"]
TOKEN = "badinput-token-1234"

COLUMNS = {
    "id": {"type": "string"},
    "name": {"type": "string"},
    "amount": {"type": "float"},
    "updated_at": {"type": "timestamp"},
}
BASES: dict[str, dict[str, Any]] = {
    "rest": {
        "primary_key": ["id"],
        "source": {"kind": "rest", "connection": "bad_api", "path": "/items", "records_path": "results",
                   "auth": {"type": "bearer"}, "page_size": 3,
                   "paginator": {"type": "json_cursor", "cursor_path": "next", "cursor_param": "after"},
                   "incremental": {"cursor_field": "updated_at"},
                   "retry": {"max_attempts": 2, "backoff_s": 0.01, "max_backoff_s": 0.05}},
        "columns": COLUMNS,
    },
    "sql": {
        "primary_key": ["id"],
        "source": {"kind": "sql", "connection": "bad_db", "table": "items",
                   "incremental": {"cursor_field": "updated_at"}},
        "columns": COLUMNS,
    },
    "file": {
        "primary_key": ["id"],
        "source": {"kind": "files", "landing": "", "pattern": "*.csv", "format": "csv"},
        "columns": {**COLUMNS, "source_file": {"source": "_file"}},
    },
}
BASES["config"] = BASES["rest"]


@dataclass(frozen=True)
class Case:
    """One kind of bad input and the outcome the product owes it."""

    kind: str  # what is bad, in a few words (the test id)
    enters: Enters  # rest: `data` is a list of page bodies (dict, bytes, Reply, or a callable(request) ->
    # Reply; a callable last item answers every later page too); sql: row dicts;
    # file: {file name: bytes}; config: like rest (the mapping override is the bad part)
    expect: Expect
    data: Any = None
    mapping: dict[str, Any] = field(default_factory=dict)  # deep-merged over BASES[enters]
    rule: str | None = None  # quarantined: the failed_rule of at least one row
    reason: str | None = None  # quarantined / rejected: a text the reason contains (case-insensitive)
    error: str | None = None  # failed / invalid: a text the error contains (case-insensitive)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> column -> expected (as str)
    bad_ids: tuple[str, ...] | None = None  # quarantined: exactly these ids (None: don't check which)
    ddl: str | None = None  # sql: CREATE TABLE items (...) with the case's column types
    suite: list[dict[str, Any]] = field(default_factory=list)  # GX expectations of the target table
    warehouses: tuple[str, ...] = ("duckdb",)  # add "postgresql" where the backends may differ
    check: Callable[[Outcome], None] | None = None  # anything else to assert on the outcome
    ids: tuple[str, ...] | None = None  # the ids the source sends, when `data` cannot show them (callables)


@dataclass
class Outcome:
    """What one run left behind, read back from the warehouse."""

    error: BaseException | None
    rows: dict[str, dict[str, Any]]  # target table: id -> row (values as str, None kept)
    quarantine: list[dict[str, Any]]  # primary_key, failed_rule, reason, record
    runs: list[dict[str, Any]]  # etl_runs rows (status, error, counts)
    files: list[dict[str, Any]]  # etl_files rows
    watermark: str | None
    source_ids: dict[str, set[str]]  # where (file name or "") -> ids the source sent


# ------------------------------------------------------------------------------------------- helpers


def rec(i: int, **over: Any) -> dict[str, Any]:
    """A valid source record `r<i>`; keyword arguments replace (or, set to ..., remove) fields."""
    base = {"id": f"r{i}", "name": f"name {i}", "amount": f"{i}.5", "updated_at": f"2024-01-{i % 28 + 1:02d}T00:00:00Z"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not ...}


def pages(*record_lists: list[Any], key: str = "results", **extra: Any) -> list[dict[str, Any]]:
    """Page bodies of a json_cursor walk: page n points at n+1 with `next`, the last has none."""
    out = []
    for n, records in enumerate(record_lists):
        body: dict[str, Any] = {key: records, **extra}
        if n + 1 < len(record_lists):
            body["next"] = str(n + 1)
        out.append(body)
    return out


@dataclass(frozen=True)
class Link:
    """A landing-folder entry that is a symbolic link to a file outside the folder holding `content`."""

    content: bytes


def csv_bytes(rows: list[dict[str, Any]], header: list[str] | None = None) -> bytes:
    header = header or list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buf.getvalue().encode()


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` wins; a value of None deletes the key (to drop a base setting)."""
    out = dict(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


# ------------------------------------------------------------------------------------ source side ids


def json_ids(obj: Any) -> set[str]:
    """Every object carrying an `id` anywhere in a JSON document (not looking inside such an object)."""
    if isinstance(obj, dict):
        if "id" in obj and isinstance(obj["id"], str | int):
            return {str(obj["id"])}
        return set().union(*(json_ids(v) for v in obj.values())) if obj else set()
    if isinstance(obj, list):
        return set().union(*(json_ids(v) for v in obj)) if obj else set()
    return set()


def _body(item: Any) -> Any:
    if isinstance(item, Reply):
        item = item.body if item.status < 400 else None
    if isinstance(item, bytes):
        try:
            return json.loads(item)
        except ValueError:
            return None
    return item


def file_ids(name: str, content: bytes | Link) -> set[str]:
    if isinstance(content, Link):
        content = content.content
    if name.endswith(".json"):
        return json_ids(_body(content))
    csv.field_size_limit(1 << 30)
    text = content.decode("utf-8-sig", errors="replace")
    try:
        return {str(r["id"]) for r in csv.DictReader(io.StringIO(text)) if r.get("id")}
    except csv.Error:
        return set()


def source_ids(case: Case) -> dict[str, set[str]]:
    if case.ids is not None:
        return {"": set(case.ids)}
    if case.enters == "file":
        return {name: file_ids(name, content) for name, content in (case.data or {}).items()}
    if case.enters == "sql":
        return {"": {str(r["id"]) for r in case.data or [] if r.get("id") is not None}}
    return {"": set().union(*(json_ids(_body(p)) for p in case.data or [])) if case.data else set()}


# ------------------------------------------------------------------------------------------ the runner


@dataclass
class Env:
    """Where one case runs: a temp folder, the environment to set, the warehouse URL."""

    tmp: Path
    setenv: Callable[[str, str], None]
    warehouse_url: str


def write_system(case: Case, folder: Path, landing: Path) -> Path:
    system = folder / "bad"
    system.mkdir(parents=True, exist_ok=True)
    (system / "_system.yml").write_text("system: bad\n")
    base = BASES[case.enters]
    if case.enters == "file":
        base = deep_merge(base, {"source": {"landing": str(landing)}})
    (system / "items.yml").write_text(yaml.safe_dump(deep_merge(base, case.mapping), sort_keys=False))
    return system


@dataclass
class _Pages:
    """The REST app: page 0 without a cursor, page n at `?after=n`; past the end: an empty page."""

    data: list[Any]

    def __call__(self, request: Request) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, {"message": "bad token"})
        try:
            n = int(request.query.get("after", "0"))
        except ValueError:
            n = len(self.data)
        if n >= len(self.data) and self.data and callable(self.data[-1]):
            n = len(self.data) - 1  # a callable last item answers every later page too
        item = self.data[n] if 0 <= n < len(self.data) else {"results": []}
        if callable(item) and not isinstance(item, Reply):
            item = item(request)
        return item if isinstance(item, Reply) else Reply(200, item)


def _sources(case: Case, env: Env) -> Iterator[None]:
    if case.enters in ("rest", "config"):
        with serve(_Pages(list(case.data or []))) as srv:
            env.setenv("AIRFLOW_CONN_BAD_API", f"http://:{TOKEN}@{srv.url.removeprefix('http://')}")
            yield
        return
    if case.enters == "sql":
        db = env.tmp / "source.db"
        with sqlite3.connect(db) as conn:
            cols = list(dict.fromkeys(k for r in case.data or [] for k in r)) or ["id", "updated_at"]
            conn.execute(case.ddl or f"CREATE TABLE items ({', '.join(cols)})")
            for row in case.data or []:
                names = list(row)
                conn.execute(f"INSERT INTO items ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                             [row[n] for n in names])
        env.setenv("AIRFLOW_CONN_BAD_DB", f"sqlite:///{db}")
        yield
        return
    landing = env.tmp / "landing"
    landing.mkdir(exist_ok=True)
    outside = env.tmp / "outside"
    outside.mkdir(exist_ok=True)
    for name, content in (case.data or {}).items():
        if isinstance(content, Link):
            (outside / name).write_bytes(content.content)
            (landing / name).symlink_to(outside / name)
        else:
            (landing / name).write_bytes(content)
    yield


def run_case(case: Case, env: Env) -> Outcome | Exception:
    """Run the case once; the MappingError itself when the mapping is refused at load."""
    from etl.config.loader import MappingError, load_system
    from etl.steps import RunContext, run_entity

    landing = env.tmp / "landing"
    expectations = env.tmp / "expectations"
    expectations.mkdir(exist_ok=True)
    (expectations / "stg_bad__items.json").write_text(
        json.dumps({"name": "stg_bad__items", "expectations": [{"meta": {}, **e} for e in case.suite]}))
    env.setenv("ETL_EXPECTATIONS_DIR", str(expectations))
    folder = write_system(case, env.tmp / "mappings", landing)
    env.setenv("ETL_MAPPINGS_DIR", str(env.tmp / "mappings"))
    error: BaseException | None = None
    gen = _sources(case, env)
    next(gen)
    try:
        try:
            entity = load_system(folder).entities["items"]
        except MappingError as exc:
            return exc
        try:
            run_entity(entity, RunContext(run_id="badinput", warehouse_url=env.warehouse_url))
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            error = exc
    finally:
        gen.close()
    return read_outcome(env.warehouse_url, error, source_ids(case))


def _table(conn, name: str) -> list[dict[str, Any]]:
    if not sa.inspect(conn).has_table(name):
        return []
    return [dict(r._mapping) for r in conn.execute(sa.text(f'SELECT * FROM "{name}"'))]


def read_outcome(url: str, error: BaseException | None, ids: dict[str, set[str]]) -> Outcome:
    from etl.load.warehouse import with_driver

    engine = sa.create_engine(with_driver(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = {str(r["id"]): {k: (None if v is None else str(v)) for k, v in r.items()}
                    for r in _table(conn, "stg_bad__items")}
            state = [r["watermark"] for r in _table(conn, "etl_state") if r["entity"] == "items"]
            return Outcome(error, rows, _table(conn, "etl_quarantine"), _table(conn, "etl_runs"),
                           _table(conn, "etl_files"), state[0] if state else None, ids)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------- the verdict


def _has(text: Any, part: str | None) -> bool:
    return part is None or part.lower() in str(text or "").lower()


def verify(case: Case, out: Outcome | Exception) -> None:
    """Assert the case's expected outcome and the accounting: nothing lost, nothing invented."""
    if case.expect == "invalid":
        assert isinstance(out, Exception), f"the mapping was accepted; expected a refusal naming {case.error!r}"
        assert _has(out, case.error), f"refusal does not say {case.error!r}: {out}"
        return
    assert isinstance(out, Outcome), f"mapping refused at load: {out}"
    everything = set().union(*out.source_ids.values()) if out.source_ids else set()
    status = [r["status"] for r in out.runs]
    if case.expect == "failed":
        assert out.error is not None, (f"the run succeeded ({len(out.rows)} rows, {len(out.quarantine)} "
                                       f"quarantined); expected a failure saying {case.error!r}")
        assert _has(out.error, case.error), f"error does not say {case.error!r}: {out.error}"
        assert status == ["failed"], status
        assert _has(out.runs[0]["error"], case.error), out.runs[0]["error"]
        assert not out.rows and not out.quarantine and out.watermark is None, "a failed run committed something"
        assert not [f for f in out.files if f["status"] == "loaded"], out.files
        if case.check is not None:
            case.check(out)
        return
    assert out.error is None, f"the run failed: {type(out.error).__name__}: {out.error}"
    assert status == ["success"], out.runs
    rejected = {f["file_name"]: f for f in out.files if f["status"] == "rejected"}
    in_rejected = set().union(*(out.source_ids.get(n, set()) for n in rejected)) if rejected else set()
    quarantined = {str(q["primary_key"]) for q in out.quarantine}
    loaded = set(out.rows)
    assert not loaded - everything, f"rows the source never sent: {sorted(loaded - everything)}"
    lost = everything - loaded - quarantined - in_rejected
    assert not lost, f"silently lost: {sorted(lost)} (loaded {sorted(loaded)}, quarantined {sorted(quarantined)})"
    assert not loaded & in_rejected, f"rows of a rejected file were loaded: {sorted(loaded & in_rejected)}"
    run = out.runs[0]
    accounted = sum(run[k] or 0 for k in ("filtered", "quarantined", "inserted", "updated", "unchanged"))
    assert run["extracted"] == accounted, run
    if case.expect == "quarantined":
        rules = [(q["failed_rule"], q["reason"]) for q in out.quarantine]
        assert any(r == case.rule or case.rule is None for r, _ in rules), f"no rule {case.rule!r}: {rules}"
        assert any(_has(why, case.reason) for r, why in rules if case.rule is None or r == case.rule), \
            f"no reason with {case.reason!r}: {rules}"
        if case.bad_ids is not None:
            assert quarantined == set(case.bad_ids), (sorted(quarantined), case.bad_ids)
    elif case.expect == "rejected":
        assert rejected, f"no file rejected: {out.files}"
        reasons = [f["reason"] for f in rejected.values()]
        assert any(_has(r, case.reason) for r in reasons), f"no reason with {case.reason!r}: {reasons}"
    else:
        assert not out.quarantine, f"quarantined: {[(q['primary_key'], q['reason']) for q in out.quarantine]}"
        assert not rejected, rejected
    for rid, cols in case.values.items():
        assert rid in out.rows, f"{rid} not loaded"
        for col, want in cols.items():
            assert out.rows[rid][col] == (None if want is None else str(want)), (rid, col, out.rows[rid][col])
    if case.check is not None:
        case.check(out)
