"""The conformed CRM model: `crm_accounts`, `crm_contacts`, `crm_deals`, `crm_users`, `crm_activities`,
`crm_tickets`, one row per record of every CRM the warehouse syncs, tagged with `source_system`.

Every company runs a different CRM (and after an acquisition, two). Rather than one hand-written
model per CRM, an entity mapping declares which core table it feeds and, where its column names
differ from the contract below, which of its columns fills which contract column:

    conform: deals                                  # its columns already follow the contract
    conform: {table: deals, columns: {deal_id: id, deal_name: name, account_id: company_id}}

The core build then generates one `UNION ALL` per table over every conforming staging table (contract
columns an entity does not fill are NULL), so a second CRM adds rows to the same core tables and thus
to the same marts, without new SQL. The mapping is checked when it is loaded (`check_conform`).
"""

from __future__ import annotations

from pathlib import Path

# table -> {column: (type, meaning)}; the first column is the record's id in its source system.
CONTRACT: dict[str, dict[str, tuple[str, str]]] = {
    "accounts": {
        "account_id": ("string", "the company's id in its CRM"),
        "name": ("string", "company name"),
        "domain": ("string", "web domain, lower case"),
        "industry": ("string", "industry as the CRM names it"),
        "country": ("string", "country"),
        "owner_id": ("string", "CRM user who owns the account (crm_users.user_id)"),
        "created_at": ("timestamp", "created in the CRM (UTC)"),
        "updated_at": ("timestamp", "last modified in the CRM (UTC)"),
    },
    "contacts": {
        "contact_id": ("string", "the person's id in its CRM"),
        "account_id": ("string", "their company (crm_accounts.account_id)"),
        "first_name": ("string", "first name"),
        "last_name": ("string", "last name"),
        "email": ("string", "e-mail as the mapping's PII policy stores it (hashed in the presets)"),
        "job_title": ("string", "job title"),
        "owner_id": ("string", "CRM user who owns the contact"),
        "created_at": ("timestamp", "created in the CRM (UTC)"),
        "updated_at": ("timestamp", "last modified in the CRM (UTC)"),
    },
    "deals": {
        "deal_id": ("string", "the deal's (opportunity's) id in its CRM"),
        "deal_name": ("string", "deal name"),
        "pipeline": ("string", "sales pipeline"),
        "stage": ("string", "pipeline stage as the CRM names it"),
        "is_won": ("boolean", "closed and won"),
        "is_closed": ("boolean", "closed, won or lost"),
        "amount": ("decimal(18,2)", "amount in the deal currency"),
        "currency": ("string", "ISO currency code of amount"),
        "close_date": ("date", "expected or actual close date"),
        "account_id": ("string", "the customer company (crm_accounts.account_id)"),
        "owner_id": ("string", "CRM user who owns the deal (crm_users.user_id)"),
        "created_at": ("timestamp", "created in the CRM (UTC)"),
        "updated_at": ("timestamp", "last modified in the CRM (UTC)"),
    },
    "users": {
        "user_id": ("string", "the CRM user's (record owner's) id"),
        "email": ("string", "work e-mail"),
        "full_name": ("string", "first and last name"),
        "created_at": ("timestamp", "created in the CRM (UTC)"),
        "updated_at": ("timestamp", "last modified in the CRM (UTC)"),
    },
    "activities": {
        "activity_id": ("string", "the activity's id in its CRM"),
        "activity_type": ("string", "CALL, EMAIL, MEETING, TASK, ... as the CRM names it"),
        "subject": ("string", "subject line"),
        "occurred_at": ("timestamp", "when it happened or is due (UTC)"),
        "owner_id": ("string", "CRM user who logged it"),
        "contact_id": ("string", "the person it concerns"),
        "account_id": ("string", "the company it concerns"),
        "deal_id": ("string", "the deal it concerns"),
        "created_at": ("timestamp", "created in the CRM (UTC)"),
        "updated_at": ("timestamp", "last modified in the CRM (UTC)"),
    },
    "tickets": {
        "ticket_id": ("string", "the ticket's (case's) id in its CRM"),
        "subject": ("string", "subject line"),
        "status": ("string", "status or pipeline stage"),
        "priority": ("string", "priority as the CRM names it"),
        "category": ("string", "ticket category (product issue, billing, ...) as the CRM names it"),
        "opened_at": ("timestamp", "opened (UTC)"),
        "first_response_at": ("timestamp", "first agent reply (UTC); null while unanswered"),
        "closed_at": ("timestamp", "closed (UTC); null while open"),
        "contact_id": ("string", "the person who raised it"),
        "account_id": ("string", "their company"),
        "owner_id": ("string", "CRM user working on it"),
        "created_at": ("timestamp", "created in the CRM (UTC)"),
        "updated_at": ("timestamp", "last modified in the CRM (UTC)"),
    },
}
SQL_TYPES = {"string": "VARCHAR", "timestamp": "TIMESTAMP", "date": "DATE", "boolean": "BOOLEAN",
             "decimal(18,2)": "DECIMAL(18, 2)"}


def table_name(table: str) -> str:
    return f"crm_{table}"


def column_sources(table: str, declared: dict[str, str], entity_columns: set[str]) -> dict[str, str | None]:
    """Contract column -> the entity column filling it (declared, else the same name, else None)."""
    return {c: declared.get(c, c if c in entity_columns else None) for c in CONTRACT[table]}


def check_conform(table: str, declared: dict[str, str], entity_columns: set[str]) -> None:
    """Raise ValueError naming the first problem: unknown table or column, an id nobody fills."""
    if table not in CONTRACT:
        raise ValueError(f"conform: unknown core table {table!r}; expected one of {', '.join(CONTRACT)}")
    contract = CONTRACT[table]
    for target, source in declared.items():
        if target not in contract:
            raise ValueError(f"conform.columns: {target!r} is not a column of {table_name(table)}; "
                             f"expected one of {', '.join(contract)}")
        if source not in entity_columns:
            raise ValueError(f"conform.columns.{target}: column {source!r} is not declared under 'columns'")
    key = next(iter(contract))
    if column_sources(table, declared, entity_columns)[key] is None:
        raise ValueError(f"conform: {table_name(table)}.{key} needs a column: name one under 'columns' "
                         f"{key!r} or map it, e.g. conform: {{table: {table}, columns: {{{key}: id}}}}")


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
