"""The conformed CRM contract: the core tables a mapping may feed with `conform:` and their columns.

Part of the mapping vocabulary, so the config schema checks a `conform:` block when it loads a file
(`check_conform`); `etl.models.conform` generates the core tables' SQL from the same contract.
"""

from __future__ import annotations

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
