"""Load Oracle's HR sample schema into plain Python rows for the demo HR system.

The dataset ships as two Oracle SQL*Plus scripts (``hr_create.sql`` for the tables, ``hr_populate.sql``
for the INSERTs). We translate them at start-up instead of keeping a hand-converted copy, so the demo
serves exactly what Oracle published and the translation (Oracle ``TO_DATE`` formats, SQL*Plus
``rem``/``Prompt`` lines, PL/SQL ``BEGIN ... END;`` wrappers) is code that can be read and tested.

Column names come from the ``CREATE TABLE`` statements because the INSERTs are positional.
Values keep their Python types: ``int``/``float`` for NUMBER, ``str`` for VARCHAR2, ``datetime.date``
for DATE, ``None`` for NULL. Presentation (date formats, derived fields) belongs to ``hr_server``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

DATA_DIR = Path(__file__).parent / "data" / "oracle_hr"

# Primary keys of the HR tables, in the order the API sorts ties on.
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "regions": ("region_id",),
    "countries": ("country_id",),
    "locations": ("location_id",),
    "departments": ("department_id",),
    "jobs": ("job_id",),
    "employees": ("employee_id",),
    "job_history": ("employee_id", "start_date"),
}

# SQL*Plus client commands and PL/SQL block markers are not SQL; sqlglot must never see them
# (a stray apostrophe in a `rem` comment would otherwise open a string literal).
_SQLPLUS_LINE = re.compile(r"^\s*(rem\b|prompt\b|set\s|begin\s*$|end;\s*$|/\s*$)", re.IGNORECASE)
# Oracle storage clauses sqlglot does not understand; they carry no column information.
_STORAGE_CLAUSE = re.compile(r"\)\s*ORGANIZATION\s+INDEX", re.IGNORECASE)
# Oracle datetime format elements -> strptime directives. sqlglot already rewrites some of them
# (case-sensitively, so 'dd-MM-yyyy' arrives as 'dd-%m-yyyy'), hence the pass-through of '%x'.
_ORACLE_FORMAT = {
    "YYYY": "%Y", "RRRR": "%Y", "YY": "%y", "RR": "%y", "MONTH": "%B", "MON": "%b", "MM": "%m",
    "DD": "%d", "HH24": "%H", "HH12": "%I", "HH": "%I", "MI": "%M", "SS": "%S", "AM": "%p", "PM": "%p",
}
_FORMAT_TOKEN = re.compile(r"%[a-zA-Z]|" + "|".join(sorted(_ORACLE_FORMAT, key=len, reverse=True)) + "|.",
                           re.IGNORECASE | re.DOTALL)


class HrDataError(ValueError):
    """The SQL scripts contain something the translation does not handle."""


def strip_sqlplus(script: str) -> str:
    """Drop SQL*Plus command lines and PL/SQL block markers, keeping plain SQL statements."""
    return "\n".join(line for line in script.splitlines() if not _SQLPLUS_LINE.match(line))


def split_statements(sql: str) -> list[str]:
    """Split on semicolons outside string literals, using sqlglot's Oracle tokenizer."""
    tokens = sqlglot.Dialect.get_or_raise("oracle").tokenize(sql)
    statements, start = [], 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append(sql[start:token.start].strip())
            start = token.end + 1
    statements.append(sql[start:].strip())
    return [s for s in statements if s]


def oracle_date(value: str, oracle_format: str) -> dt.date | dt.datetime:
    """Evaluate ``TO_DATE(value, format)``; a date when the format has no time of day."""
    directives = []
    for token in _FORMAT_TOKEN.findall(oracle_format):
        directives.append(token if token.startswith("%") else _ORACLE_FORMAT.get(token.upper(), token))
    pattern = "".join(directives)
    # Oracle month abbreviations are upper case ('JUN'); strptime's %b is case-insensitive.
    parsed = dt.datetime.strptime(value, pattern)
    has_time = any(d in pattern for d in ("%H", "%I", "%M", "%S"))
    return parsed if has_time else parsed.date()


def _value(node: exp.Expression) -> object:
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        number = node.this
        return int(number) if re.fullmatch(r"-?\d+", number) else float(number)
    if isinstance(node, exp.Neg):
        return -_value(node.this)  # type: ignore[operator]
    if isinstance(node, exp.StrToDate):
        return oracle_date(_value(node.this), _value(node.args["format"]))  # type: ignore[arg-type]
    raise HrDataError(f"unsupported value in INSERT: {node.sql(dialect='oracle')}")


def table_columns(create_script: str) -> dict[str, list[str]]:
    """Column names per table, in declaration order, from the CREATE TABLE statements."""
    columns: dict[str, list[str]] = {}
    for statement in split_statements(strip_sqlplus(create_script)):
        if not re.match(r"CREATE\s+TABLE\b", statement, re.IGNORECASE):
            continue
        create = sqlglot.parse_one(_STORAGE_CLAUSE.sub(")", statement), read="oracle")
        if not isinstance(create, exp.Create) or not isinstance(create.this, exp.Schema):
            raise HrDataError(f"could not read the columns of: {statement[:60]!r}")
        name = create.this.this.name.lower()
        columns[name] = [c.name.lower() for c in create.this.expressions if isinstance(c, exp.ColumnDef)]
    return columns


def insert_rows(populate_script: str, columns: dict[str, list[str]]) -> dict[str, list[dict]]:
    """Rows per table from the INSERT ... VALUES statements, as dicts keyed by column name."""
    rows: dict[str, list[dict]] = {name: [] for name in columns}
    for statement in split_statements(strip_sqlplus(populate_script)):
        if not re.match(r"INSERT\b", statement, re.IGNORECASE):
            continue
        insert = sqlglot.parse_one(statement, read="oracle")
        table = insert.this.this if isinstance(insert.this, exp.Schema) else insert.this
        name = table.name.lower()
        if name not in columns:
            raise HrDataError(f"INSERT into {name!r}, which hr_create.sql does not define")
        for row in insert.expression.expressions:
            values = [_value(v) for v in row.expressions]
            if len(values) != len(columns[name]):
                raise HrDataError(f"{name}: {len(values)} values for {len(columns[name])} columns")
            rows[name].append(dict(zip(columns[name], values, strict=True)))
    return rows


@functools.lru_cache(maxsize=4)
def _load_cached(data_dir: Path) -> dict[str, tuple[dict, ...]]:
    columns = table_columns((data_dir / "hr_create.sql").read_text(encoding="utf-8"))
    rows = insert_rows((data_dir / "hr_populate.sql").read_text(encoding="utf-8"), columns)
    return {name: tuple(table_rows) for name, table_rows in rows.items()}


def load_hr(data_dir: Path = DATA_DIR) -> dict[str, list[dict]]:
    """All HR tables as fresh lists of row dicts (callers may mutate them; parsing is cached)."""
    return {name: [dict(r) for r in rows] for name, rows in _load_cached(Path(data_dir)).items()}
