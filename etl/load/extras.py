"""CRM custom fields: what lands in `extras` unmapped, and filling a newly mapped column from it.

Every company customises its CRM, so a mapping keeps what it does not map as JSON in `extras` (the
fields as received, keyed by their dotted source path). Two things follow:

- `unmapped_fields`: a report of the fields seen in `extras` that no mapping uses yet, with how many
  rows carry them and a few samples, so a data engineer sees what to map. Samples are PII-safe: the
  values of a low-cardinality field (a tier, a region: 10 distinct values or fewer over at least 5
  rows) are shown unless they look like an e-mail or phone number; anything else is shown as its shape
  (`Xxxx 99`), never as the value. The `etl_unmapped_fields` view holds the same counts, no values.
- `backfill`: once the field is added to the YAML, the rows loaded before carry it only in `extras`;
  their new column is filled from there with the column's own normalise / cast / default / PII
  policy, in the load's transaction, without re-reading the source. A row loaded after the change no
  longer has the key in `extras`, so a newer value is never overwritten. A field mapped as personal
  leaves `extras` of the old rows in the same transaction (its raw value must not stay readable there).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from etl.config.schema import Entity
from etl.layers import expose, qualified
from etl.load.warehouse import existing_columns, quote, transaction
from etl.transform.mapping import EXTRAS, _prepare, source_of

VIEW = "etl_unmapped_fields"
CATEGORICAL_MAX = 10
PERSONAL = re.compile(r"@|^\+?[\d\s().-]{7,}$")


@dataclass(frozen=True)
class FieldReport:
    system: str
    entity: str
    table: str
    field: str
    rows: int  # rows whose extras carry the field
    share: float  # of the table's rows that have extras
    distinct: int
    samples: tuple[str, ...]


def _entities(system: str | None) -> list[Entity]:
    from etl.config.loader import load_all

    return [e for name, cfg in load_all(strict=False).items() if system in (None, name)
            for e in cfg.entities.values() if e.extras == "keep"]


def used_sources(entity: Entity) -> set[str]:
    return {source_of(name, col) for name, col in entity.columns.items() if not col.derive}


def _extras_rows(conn: Connection, entity: Entity, keys: list[str] | None = None) -> list[tuple]:
    if EXTRAS not in existing_columns(conn, entity.target):
        return []
    cols = ", ".join(quote(k) for k in (keys or []))
    sql = f"SELECT {cols + ', ' if cols else ''}CAST({quote(EXTRAS)} AS VARCHAR) FROM {quote(entity.target)} " \
          f"WHERE {quote(EXTRAS)} IS NOT NULL"
    return [tuple(r) for r in conn.execute(sa.text(sql))]


def unmapped_fields(url: str | None = None, system: str | None = None) -> list[FieldReport]:
    """Every (entity, field) in extras that no column of the current mapping reads, most frequent first."""
    out = []
    with transaction(url) as conn:
        for entity in _entities(system):
            used, total = used_sources(entity), 0
            values: dict[str, Counter] = {}
            for (text,) in _extras_rows(conn, entity):
                total += 1
                for key, value in orjson.loads(text).items():
                    if key not in used:
                        values.setdefault(key, Counter())[str(value)] += 1
            for key, counts in values.items():
                n = sum(counts.values())
                out.append(FieldReport(entity.system, entity.entity, entity.target, key, n, n / total,
                                       len(counts), _samples(counts)))
        refresh_view(conn)
    return sorted(out, key=lambda f: (f.system, f.entity, -f.rows, f.field))


def _samples(counts: Counter, k: int = 3) -> tuple[str, ...]:
    rows = sum(counts.values())
    categorical = len(counts) <= CATEGORICAL_MAX and rows >= 5
    common = [v for v, _ in counts.most_common(k)]
    if categorical and not any(PERSONAL.search(v) for v in common):
        return tuple(common)
    return tuple(dict.fromkeys(_shape(v) for v in common))


def _shape(value: str) -> str:
    """'Gold 2024' -> 'Xxxx 9999': the form of a value, never its content."""
    masked = re.sub(r"[A-Z]", "X", re.sub(r"[a-z]", "x", re.sub(r"\d", "9", value)))
    return masked[:16] + ("…" if len(masked) > 16 else "")


def refresh_view(conn: Connection) -> None:
    """(Re)create `etl_unmapped_fields`: system, entity, table, field, rows - counts only, no values."""
    parts = []
    dialect = conn.engine.dialect.name
    for entity in _entities(None):
        if EXTRAS not in existing_columns(conn, entity.target):
            continue
        used = ", ".join("'" + u.replace("'", "''") + "'" for u in sorted(used_sources(entity)))
        keys = (f"SELECT unnest(json_keys({quote(EXTRAS)})) AS field FROM {quote(entity.target)}"
                if dialect == "duckdb" else
                f"SELECT jsonb_object_keys({quote(EXTRAS)}) AS field FROM {quote(entity.target)}")
        parts.append(f"SELECT '{entity.system}' AS system, '{entity.entity}' AS entity, "
                     f"'{entity.target}' AS table_name, field, count(*) AS rows FROM ({keys}) k "
                     f"WHERE field NOT IN ({used}) GROUP BY field")
    empty = ("SELECT CAST(NULL AS VARCHAR) AS system, CAST(NULL AS VARCHAR) AS entity, "
             "CAST(NULL AS VARCHAR) AS table_name, CAST(NULL AS VARCHAR) AS field, 0 AS rows WHERE 1 = 0")
    conn.execute(sa.text(f"DROP VIEW IF EXISTS {qualified(VIEW)}"))
    conn.execute(sa.text(f"CREATE VIEW {qualified(VIEW)} AS " + ("\nUNION ALL\n".join(parts) or empty)))
    expose(conn, VIEW)


def backfill(conn: Connection, entity: Entity) -> int:
    """Fill mapped columns from `extras` for rows loaded before the mapping read them; rows updated."""
    have = existing_columns(conn, entity.target)
    sources = {name: source_of(name, col) for name, col in entity.columns.items()
               if not col.derive and name in have and name not in entity.converted_columns}
    rows = _extras_rows(conn, entity, entity.primary_key)
    wanted = set(sources.values())
    found = [(r[:-1], orjson.loads(r[-1])) for r in rows]
    found = [(key, {k: v for k, v in extras.items() if k in wanted}) for key, extras in found]
    found = [(key, extras) for key, extras in found if extras]
    if not found:
        return 0
    raw = pa.Table.from_pylist([{k: (v if isinstance(v, str) else orjson.dumps(v).decode()) for k, v in e.items()}
                                for _, e in found])
    filled = {name: _typed(raw, name, entity) for name, src in sources.items() if src in raw.column_names}
    from etl.transform.pii import protect

    table = protect(pa.table(filled), entity)
    names = list(table.column_names)
    pk = entity.primary_key
    sets = ", ".join(f"{quote(n)} = COALESCE({quote(n)}, :v{i})" for i, n in enumerate(names))
    where = " AND ".join(f"{quote(k)} = :k{i}" for i, k in enumerate(pk))
    params = [{**{f"v{i}": table[n][j].as_py() for i, n in enumerate(names)},
               **{f"k{i}": key[i] for i in range(len(pk))}} for j, (key, _) in enumerate(found)]
    conn.execute(sa.text(f"UPDATE {quote(entity.target)} SET {sets} WHERE {where}"), params)
    _forget_personal(conn, entity, sources, rows)
    return len(params)


def _forget_personal(conn: Connection, entity: Entity, sources: dict[str, str], rows: list[tuple]) -> None:
    """A field now mapped as personal (pii hash, mask or drop) leaves `extras`, where old rows kept it raw:
    its protected value is in its column now, and the policy applies everywhere the value goes."""
    from etl.transform.pii import is_personal

    personal = [src for name, src in sources.items() if entity.columns[name].pii != "keep"]
    if not personal:
        return
    pk = entity.primary_key
    where = " AND ".join(f"{quote(k)} = :k{i}" for i, k in enumerate(pk))
    params = []
    for *key, text in rows:
        extras = orjson.loads(text)
        kept = {k: v for k, v in extras.items() if not is_personal(k, personal)}
        if len(kept) != len(extras):
            params.append({"x": orjson.dumps(kept).decode() if kept else None,
                           **{f"k{i}": key[i] for i in range(len(pk))}})
    if params:
        conn.execute(sa.text(f"UPDATE {quote(entity.target)} SET {quote(EXTRAS)} = :x WHERE {where}"), params)


def _typed(raw: pa.Table, name: str, entity: Entity) -> pa.Array:
    from etl.transform.cast import cast_column

    col = entity.columns[name]
    typed, bad = cast_column(_prepare(raw, name, col, entity), col)
    typed = pc.if_else(bad, pa.scalar(None, typed.type), typed)  # a value that does not cast stays null
    return pc.coalesce(typed, pa.scalar(col.default).cast(typed.type)) if col.default is not None else typed


def backfill_all(url: str | None = None, system: str | None = None) -> dict[tuple[str, str], int]:
    with transaction(url) as conn:
        return {(e.system, e.entity): backfill(conn, e) for e in _entities(system)
                if existing_columns(conn, e.target)}
