"""Bad mappings: refused when loaded naming the field (`invalid`), or failing the run with nothing
committed and the setting named (`failed`) when only the source can show the mistake. See harness.py."""

from __future__ import annotations

from tests.badinput.harness import Case, pages, rec

C = "config"
OK = pages([rec(1), rec(2)])


def _src(**settings):
    return {"source": settings}


CASES = [
    Case("unknown column type", C, "invalid", OK, mapping={"columns": {"amount": {"type": "money"}}},
         error="unknown type"),
    Case("misspelt setting", C, "invalid", OK, mapping={"primary_keys": ["id"]}, error="unknown setting"),
    Case("primary key not a column", C, "invalid", OK, mapping={"primary_key": ["code"]}, error="primary_key"),
    Case("filter on an undeclared column", C, "invalid", OK,
         mapping={"filters": [{"column": "status", "op": "eq", "value": "x"}]}, error="filter column 'status'"),
    Case("unknown normaliser", C, "invalid", OK, mapping={"columns": {"name": {"normalise": ["shout"]}}},
         error="unknown normaliser"),
    Case("filter op without its value", C, "invalid", OK,
         mapping={"filters": [{"column": "name", "op": "eq"}]}, error="needs 'value'"),
    Case("unknown paginator type", C, "invalid", OK, mapping=_src(paginator={"type": "scroll"}), error="paginator"),
    Case("max_pages zero", C, "invalid", OK, mapping=_src(max_pages=0), error="max_pages"),
    Case("max_seconds negative", C, "invalid", OK, mapping=_src(max_seconds=-5), error="max_seconds"),
    Case("max_seconds beyond a week", C, "invalid", OK, mapping=_src(max_seconds=10**7), error="max_seconds"),
    Case("request_max_seconds zero", C, "invalid", OK, mapping=_src(request_max_seconds=0),
         error="request_max_seconds"),
    Case("max_empty_pages negative", C, "invalid", OK, mapping=_src(max_empty_pages=-1), error="max_empty_pages"),
    Case("records_path not a string", C, "invalid", OK, mapping=_src(records_path=["results"]),
         error="records_path"),
    Case("retry max_attempts zero", C, "invalid", OK, mapping=_src(retry={"max_attempts": 0}), error="max_attempts"),
    Case("unknown auth type", C, "invalid", OK, mapping=_src(auth={"type": "oauth3"}), error="auth"),
    Case("watermark template without incremental", C, "invalid", OK,
         mapping=_src(params={"since": "{watermark}"}, incremental=None), error="incremental"),
    Case("POST body with GET", C, "invalid", OK, mapping=_src(body={"q": 1}), error="POST"),
    Case("restart_on without a rule", C, "invalid", OK, mapping=_src(restart_on={"max_restarts": 2}),
         error="restart_on"),
    Case("unknown derive function", C, "invalid", OK,
         mapping={"columns": {"x": {"derive": {"function": "no_such_fn", "args": ["name"]}}}}, error="no_such_fn"),
    Case("connection not defined", C, "failed", OK, mapping=_src(connection="nowhere_api"), error="not defined"),
    Case("records_path names the wrong key", C, "failed", OK, mapping=_src(records_path="data"),
         error="records_path"),
    Case("single paginator on a paged source", C, "failed", pages([rec(1)], [rec(2)]),
         mapping=_src(paginator={"type": "single"}), error="'next'"),
    Case("cursor_path that the source does not use", C, "failed", pages([rec(1)], [rec(2)]),
         mapping=_src(paginator={"cursor_path": "paging.after"}), error="'next'"),
]
