"""Secrets and personal data (issue 9): after runs that hold known tokens, passwords and personal values,
successful and failing ones, none of them is readable anywhere the product writes.

Runs (REST and SQL sources through the bad-input harness, real servers and DuckDB):
* a success with personal e-mails and phones (stored hashed), one record quarantined;
* a source whose error body echoes the bearer token (400);
* API-key-in-query auth against a port where nothing listens (the HTTP library's exception text
  carries the full URL with the key);
* a SQL source whose PostgreSQL URL holds a password, unreachable;
* a warehouse URL of an unsupported backend with a password.

Looked at afterwards: every log record of the process (message and traceback), stdout/stderr, the
exceptions (text and traceback), the step results that would be XComs, every text value of every table
in the warehouses (etl_runs, etl_quarantine, the target, extras ...), and every file the runs left
(run files, the landing folder's reason files). Run files may hold raw personal values while a run
waits for its retry, but only in private files (0600); secrets never.
"""

from __future__ import annotations

import logging
import socket
import stat
import traceback

import sqlalchemy as sa

from etl.config.loader import load_system
from etl.steps import RunContext, run_entity
from tests.badinput.harness import TOKEN, Case, Env, rec, run_case, write_system
from tests.helpers.http_server import Reply

API_KEY = "Query-Key-7731-zz"
SQL_PASSWORD = "Sql-Pass-5512-qq"
WAREHOUSE_PASSWORD = "Wh-Pass-9911-xx"
SECRETS = [TOKEN, API_KEY, SQL_PASSWORD, WAREHOUSE_PASSWORD]
MAIL, PHONE, BAD_MAIL = "jane.secret@example.com", "+1 650 555 0199", "john.secret@@example"
PERSONAL = [MAIL, PHONE, "6505550199", BAD_MAIL, "john.secret"]
PII_COLUMNS = {"columns": {"email": {"normalise": ["email"], "pii": "hash"},
                           "phone": {"normalise": ["phone_e164"], "pii": "hash"}}}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _echo(request) -> Reply:
    return Reply(400, {"error": "invalid request", "you_sent": request.headers.get("Authorization")})


CASES = {
    "pii": Case("personal values, one quarantined", "rest", "quarantined",
                [{"results": [rec(1, email=MAIL, phone=PHONE), rec(2, email=BAD_MAIL, amount="n/a")]}],
                mapping=PII_COLUMNS),
    "echo": Case("error body echoes the token", "rest", "failed", [_echo]),
    "query_key": Case("api key in the query, nothing listening", "rest", "failed", [],
                      mapping={"source": {"connection": "keyed_api",
                                          "auth": {"type": "api_key", "query_param": "api_key"}}}),
    "sql": Case("SQL source password, unreachable", "sql", "failed", [rec(1)],
                mapping={"source": {"connection": "secret_db"}}),
}


def _table_texts(url: str) -> list[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    out = []
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                out += [f"{table}: {v}" for v in row if v is not None]
    engine.dispose()
    return out


def _exception_text(exc: BaseException | None) -> str:
    return "" if exc is None else "".join(traceback.format_exception(exc))


def test_no_secret_or_personal_value_is_readable_anywhere(tmp_path, monkeypatch, caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AIRFLOW_CONN_KEYED_API", f"http://:{API_KEY}@127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("AIRFLOW_CONN_SECRET_DB", f"postgresql://etl:{SQL_PASSWORD}@127.0.0.1:{_closed_port()}/x")
    data_dir = tmp_path / "var"
    monkeypatch.setenv("ETL_DATA_DIR", str(data_dir))
    texts: list[str] = []
    for name, case in CASES.items():
        folder = tmp_path / name
        folder.mkdir()
        url = f"duckdb:///{folder / 'warehouse.duckdb'}"
        out = run_case(case, Env(folder, monkeypatch.setenv, url))
        assert not isinstance(out, Exception), out
        assert (out.error is None) == (case.expect != "failed"), (name, out.error)
        texts += [_exception_text(out.error), *(str(r) for r in out.runs)]
        texts += _table_texts(url)
    # the warehouse itself: an unsupported backend, its URL carrying a password
    entity = load_system(write_system(CASES["pii"], tmp_path / "wh" / "mappings", tmp_path)).entities["items"]
    try:
        run_entity(entity, RunContext(run_id="wh", warehouse_url=f"mysql://etl:{WAREHOUSE_PASSWORD}@db:3306/x"))
    except Exception as exc:  # noqa: BLE001 - the failure under test
        texts.append(_exception_text(exc))
        assert "unsupported backend" in str(exc)
    else:
        raise AssertionError("a mysql warehouse was accepted")
    captured = capfd.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    texts += [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix not in (".duckdb", ".wal", ".db", ".yml")]
    for path in files:
        content = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in content, f"{secret!r} readable in {path}"
        if any(p.encode() in content for p in PERSONAL):
            assert path.is_relative_to(data_dir) and not path.is_relative_to(data_dir / "landing"), path
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"personal data in {path} with mode " \
                f"{oct(stat.S_IMODE(path.stat().st_mode))}"
    blob = "\n".join(texts)
    assert "Traceback" in blob and "failed" in blob  # the failures really happened and were looked at
    for secret in SECRETS:
        assert secret not in blob, f"{secret!r} readable: ...{blob[max(0, blob.find(secret) - 300):][:600]}"
    for value in PERSONAL:
        assert value not in blob, f"{value!r} readable: ...{blob[max(0, blob.find(value) - 300):][:600]}"


def test_step_results_for_xcom_hold_no_secret_or_personal_value(tmp_path, monkeypatch) -> None:
    """What Airflow stores as XCom is each step's `as_dict()`: counts, paths and watermarks only."""
    from etl import steps

    monkeypatch.setenv("ETL_DATA_DIR", str(tmp_path / "var"))
    case = CASES["pii"]
    env = Env(tmp_path, monkeypatch.setenv, f"duckdb:///{tmp_path / 'w.duckdb'}")
    from tests.badinput import harness

    gen = harness._sources(case, env)
    next(gen)
    try:
        entity = load_system(write_system(case, tmp_path / "mappings", tmp_path / "landing")).entities["items"]
        ctx = RunContext(run_id="x", warehouse_url=env.warehouse_url)
        monkeypatch.setenv("ETL_EXPECTATIONS_DIR", str(tmp_path / "expectations"))
        (tmp_path / "expectations").mkdir()
        (tmp_path / "expectations" / "stg_bad__items.json").write_text(
            '{"name": "stg_bad__items", "expectations": []}')
        ex = steps.extract(entity, ctx)
        tr = steps.transform(entity, ctx)
        va = steps.validate(entity, ctx, ex)
        lo = steps.load(entity, ctx, ex, tr, va)
    finally:
        gen.close()
    xcom = repr([r.as_dict() for r in (ex, tr, va, lo)])
    assert lo.quarantined == 1 and lo.inserted == 1
    for value in [*SECRETS, *PERSONAL]:
        assert value not in xcom, (value, xcom)
    left = [p for p in (tmp_path / "var").rglob("*") if p.is_file() and "runs" in p.parts]
    assert not left, f"run files left after a successful load: {left}"
