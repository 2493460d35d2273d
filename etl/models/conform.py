"""The conformed CRM model: `crm_accounts`, `crm_contacts`, `crm_deals`, `crm_users`, `crm_activities`,
`crm_tickets`, one row per record of every CRM the warehouse syncs, tagged with `source_system`.

Every company runs a different CRM (and after an acquisition, two). Rather than one hand-written
model per CRM, an entity mapping declares which core table it feeds and, where its column names
differ from the contract below, which of its columns fills which contract column:

    conform: deals                                  # its columns already follow the contract
    conform: {table: deals, columns: {deal_id: id, deal_name: name, account_id: company_id}}

The core build then generates one `UNION ALL` per table over every conforming staging table (contract
columns an entity does not fill are NULL), so a second CRM adds rows to the same core tables and thus
to the same marts, without new SQL. The mapping is checked when it is loaded (`etl.config.conform.check_conform`).
"""

from __future__ import annotations

from pathlib import Path

from etl.config.conform import CONTRACT, SQL_TYPES, check_conform, column_sources, table_name

__all__ = ["CONTRACT", "SQL_TYPES", "check_conform", "column_sources", "conformed_models", "conformed_sql",
           "table_name"]


def conformed_sql(table: str, entities: list) -> str:
    """One SELECT per conforming entity, unioned; an empty typed SELECT when no CRM feeds the table."""
    contract = CONTRACT[table]
    selects = []
    for e in sorted(entities, key=lambda e: (e.system, e.entity)):
        sources = column_sources(table, e.conform.columns, set(e.columns))
        cols = [f"CAST('{e.system}' AS VARCHAR) AS source_system"]
        cols += [f"CAST({_q(src) if src else 'NULL'} AS {SQL_TYPES[contract[c][0]]}) AS {c}"
                 for c, src in sources.items()]
        selects.append("SELECT " + ",\n       ".join(cols) + f"\nFROM {_q(e.target)}")
    if not selects:
        cols = ["CAST(NULL AS VARCHAR) AS source_system"]
        cols += [f"CAST(NULL AS {SQL_TYPES[t]}) AS {c}" for c, (t, _) in contract.items()]
        return "SELECT " + ", ".join(cols) + " WHERE 1 = 0"
    return "\nUNION ALL\n".join(selects)


def conformed_models(model_cls, systems: dict | None = None) -> dict:
    """The six core tables as `etl.models.build.Model`s with generated SQL, from the loaded mappings."""
    from etl.config.loader import load_all, mappings_dir

    systems = load_all(strict=False) if systems is None else systems  # a broken file disables only its entity
    by_table: dict[str, list] = {t: [] for t in CONTRACT}
    for cfg in systems.values():
        for e in cfg.entities.values():
            if e.conform is not None:
                by_table[e.conform.table].append(e)
    models = {}
    for table, entities in by_table.items():
        columns = {"source_system": "the CRM the row comes from (its mappings/<system>/ folder)",
                   **{c: meaning for c, (_, meaning) in CONTRACT[table].items()}}
        models[table_name(table)] = model_cls(
            name=table_name(table), layer="core", path=Path(mappings_dir()),
            sql=conformed_sql(table, entities),
            description=(f"Conformed CRM {table} of every CRM in the warehouse, generated from the mappings "
                         f"that declare `conform: {table}`; a CRM added later only adds rows."),
            grain=f"one row per CRM {table[:-1]} per source system", columns=columns)
    return models


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
