"""The demo ERP: Northwind as a real SQL database (SQLite or PostgreSQL), plus what an ERP has.

Why this exists: the ERP pipelines must be exercised against a real relational source, not a mock,
and the same source must run embedded (`make demo`, SQLite) and as a server (tests, PostgreSQL).
Northwind gives credible customers, orders and lines; it lacks what makes ERP syncing hard, so this
module adds it, all deterministic from `seed`:

- `updated_at` on customers, products, orders, order_details, employees and invoices, bumped by a
  trigger on every UPDATE that does not set it itself (naive UTC; PostgreSQL's now(), i.e. the
  transaction start, SQLite's clock to the millisecond) -- the incremental cursor;
- `order_details.line_id`, a single-column increasing key (the composite primary key
  (order_id, product_id) is kept; line_id is UNIQUE, new lines take max + 1);
- `currency` on customers and orders (from the customer's country); order_details.unit_price is in
  the order's currency, products.unit_price stays a list price;
- `invoices`, one per shipped order, dated on the shipped date, totals from the lines
  (unit_price * quantity * (1 - discount), freight excluded) plus a tax rate per currency;
- `fx_rates`, one rate per business day per currency, with MISSING_FX_DATES left out on purpose so
  a conversion step has something to quarantine;
- `customers.lead_source` / `customers.status`, `employees.email` (the sales reps);
- `sales_orders`, the ERP's order intake that the CRM's won deals are pushed into (outbound sync):
  the ERP's own `order_no` (an identity), `crm_deal_id` UNIQUE, `order_date` as the ERP writes dates
  (YYYYMMDD text), `amount_minor` in integer cents, `currency` the ERP's own (USD), and CHECK
  constraints that refuse what the ERP would refuse (a non-positive amount, a malformed date), and a
  `status` (open/cancelled): an ERP cancels an order rather than deleting it (mirror `deactivate`);
- dates moved into the CRM's period and the sales team made HR's (demo/company.py), FX rates for
  that whole period, so every deal and order converts at the day's rate.

Data: Northwind, data/northwind/northwind.sql from github.com/pthom/northwind_psql at cd0ef28
(Ms-PL, data/northwind/LICENSE). The dump is PostgreSQL SQL. sqlglot translates its DDL; `real`
becomes double precision in both dialects, because a float4 column would read back differently from
SQLite's float8 (32.38 vs 32.3800011) and the two databases must hold identical data. INSERTs run
verbatim (bytea `'\\x'` becomes `X''` on SQLite). SQLite cannot ALTER TABLE ADD CONSTRAINT, so keys
are folded into CREATE TABLE there.
"""

from __future__ import annotations

import argparse
import random
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import sqlglot
from sqlalchemy import Connection, Engine, TextClause, bindparam, create_engine, make_url, text
from sqlglot import exp

from demo.company import FX_END, FX_START, sales_team, shift

DUMP = Path(__file__).parent / "data" / "northwind" / "northwind.sql"
KEYS = {"customers": "customer_id", "products": "product_id", "orders": "order_id",
        "order_details": "line_id", "employees": "employee_id", "invoices": "invoice_id"}
EURO = ("Austria", "Belgium", "Finland", "France", "Germany", "Ireland", "Italy", "Portugal", "Spain")
FIXED_CURRENCY = {**dict.fromkeys(EURO, "EUR"), "UK": "GBP", "USA": "USD", "Brazil": "BRL"}
OTHER_CURRENCIES = ("USD", "EUR", "CNY")  # the rest of the world, assigned round-robin from the seed
BASE_RATE_TO_USD = {"USD": 1.0, "EUR": 1.27, "GBP": 1.56, "BRL": 0.97, "CNY": 0.12}
TAX_RATE = {"USD": 0.0, "EUR": 0.16, "GBP": 0.175, "BRL": 0.17, "CNY": 0.17}
LEAD_SOURCES = ("online_promotion", "referral", "trade_show", "cold_call")
# Northwind's orders (1996-07-04..1998-05-06) are moved into the company's period (demo/company.py):
# 2023-01-05..2024-11-06. FX rates cover that and every CRM deal's close date.
NEW_ORDERS_FROM = shift(date(1998, 5, 7))  # add_orders dates new orders after Northwind's last one
AS_OF = shift(date(1998, 6, 1))  # 2024-12-02: invoices due before it are paid (mostly) or overdue; later ones open
PAYMENT_DAYS = 30
# Business days on which BRL orders were placed but no BRL rate exists.
MISSING_FX_DATES = tuple(("BRL", shift(d)) for d in (date(1996, 12, 11), date(1997, 5, 19), date(1997, 8, 27),
                                                     date(1998, 2, 24)))
NOW_SQL = {"postgresql": "(now() AT TIME ZONE 'utc')",
           "sqlite": "strftime('%Y-%m-%d %H:%M:%f000', 'now')"}

EXTENSION_DDL = [
    "ALTER TABLE customers ADD COLUMN lead_source VARCHAR(20)",
    "ALTER TABLE customers ADD COLUMN status VARCHAR(10)",
    "ALTER TABLE customers ADD COLUMN currency VARCHAR(3)",
    "ALTER TABLE employees ADD COLUMN email VARCHAR(64)",
    "ALTER TABLE orders ADD COLUMN currency VARCHAR(3)",
    "ALTER TABLE order_details ADD COLUMN line_id INTEGER",
    *[f"ALTER TABLE {t} ADD COLUMN updated_at TIMESTAMP" for t in KEYS if t != "invoices"],
    """CREATE TABLE invoices (
        invoice_id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL UNIQUE REFERENCES orders,
        customer_id VARCHAR(5) NOT NULL REFERENCES customers, invoice_date DATE NOT NULL,
        due_date DATE NOT NULL, currency VARCHAR(3) NOT NULL, net_amount NUMERIC(12, 2) NOT NULL,
        tax_amount NUMERIC(12, 2) NOT NULL, total_amount NUMERIC(12, 2) NOT NULL,
        status VARCHAR(10) NOT NULL CHECK (status IN ('paid', 'open', 'overdue')),
        updated_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE fx_rates (rate_date DATE NOT NULL, currency VARCHAR(3) NOT NULL,
        rate_to_usd NUMERIC(18, 6) NOT NULL, PRIMARY KEY (rate_date, currency))""",
]
PG_TRIGGER_FUNCTION = """CREATE OR REPLACE FUNCTION erp_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now() AT TIME ZONE 'utc';
    END IF;
    RETURN NEW;
END $$"""
TRIGGER_SQL = {
    "postgresql": "CREATE TRIGGER trg_{t}_updated_at BEFORE UPDATE ON {t} FOR EACH ROW "
                  "EXECUTE FUNCTION erp_set_updated_at()",
    "sqlite": "CREATE TRIGGER trg_{t}_updated_at AFTER UPDATE ON {t} FOR EACH ROW "
              "WHEN NEW.updated_at IS OLD.updated_at BEGIN UPDATE {t} SET updated_at = "
              + NOW_SQL["sqlite"] + " WHERE rowid = NEW.rowid; END",
}
ERP_CURRENCY = "USD"
SALES_ORDERS_DDL = {
    "sqlite": "order_no INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgresql": "order_no INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
}
SALES_ORDERS_COLUMNS = f"""
    crm_deal_id VARCHAR(40) NOT NULL UNIQUE,
    customer_id VARCHAR(5),
    deal_name VARCHAR(200) NOT NULL,
    order_date CHAR(8) NOT NULL CHECK (length(order_date) = 8 AND order_date BETWEEN '19900101' AND '20991231'),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency CHAR(3) NOT NULL CHECK (currency = '{ERP_CURRENCY}'),
    source_amount NUMERIC(18, 2),
    source_currency CHAR(3),
    status VARCHAR(10) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'cancelled')))"""


def sales_orders_ddl(dialect: str) -> str:
    return f"CREATE TABLE IF NOT EXISTS sales_orders ({SALES_ORDERS_DDL[dialect]},{SALES_ORDERS_COLUMNS}"


# What touch_erp changes: visible, dialect-neutral, and never a key.
TOUCH_SET = {
    "customers": "status = CASE status WHEN 'active' THEN 'inactive' ELSE 'active' END",
    "products": "unit_price = unit_price + 1",
    "orders": "freight = freight + 1",
    "order_details": "quantity = quantity + 1",
    "employees": "notes = notes || ' (reviewed)'",
    "invoices": "status = CASE status WHEN 'paid' THEN 'open' ELSE 'paid' END",
}


@cache
def _dump() -> tuple[list, list[str], list]:
    """The dump as (CREATE TABLE asts with real -> double, INSERT texts, ALTER TABLE asts).

    Splitting on `;` at a line end is safe here: no string literal in the dump ends a line with one."""
    statements = [re.sub(r"(?m)^--.*$", "", s).strip() for s in re.split(r";\s*\n", DUMP.read_text())]
    creates = [sqlglot.parse_one(s, read="postgres") for s in statements if s.startswith("CREATE")]
    for dtype in (d for c in creates for d in c.find_all(exp.DataType)):
        if dtype.this == exp.DataType.Type.FLOAT:
            dtype.set("this", exp.DataType.Type.DOUBLE)
    alters = [sqlglot.parse_one(s, read="postgres") for s in statements if s.startswith("ALTER")]
    return creates, [s for s in statements if s.startswith("INSERT")], alters


def northwind_tables() -> list[str]:
    """Northwind's 14 tables, in the dump's order."""
    return [c.this.this.name for c in _dump()[0]]


def _northwind_sql(dialect: str) -> list[str]:
    creates, inserts, alters = _dump()
    if dialect == "postgresql":  # as the dump does it: keys after the data
        return ([c.sql("postgres") for c in creates] + inserts + [a.sql("postgres") for a in alters])
    creates = [c.copy() for c in creates]
    by_name = {c.this.this.name: c for c in creates}
    for alter in alters:
        for constraint in alter.find_all(exp.Constraint):
            by_name[alter.this.name].this.append("expressions", constraint.copy())
    return [c.sql("sqlite") for c in creates] + [s.replace("'\\x'", "X''") for s in inserts]


def _run(conn: Connection, statements: list[str]) -> None:
    cursor = conn.connection.cursor()
    if conn.dialect.name == "postgresql":
        cursor.execute(";\n".join(statements))  # one round trip for the whole dump
    else:
        for statement in statements:
            cursor.execute(statement)


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":  # SQLAlchemy 2.1 would pick psycopg 3; we ship psycopg2
            parsed = parsed.set(drivername="postgresql+psycopg2")
        if parsed.drivername == "postgresql+psycopg2":  # batch the bulk UPDATEs: 1 s -> 0.1 s
            return create_engine(parsed, executemany_mode="values_plus_batch")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(parsed)


@contextmanager
def _transaction(url: str) -> Iterator[Connection]:
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")  # the format the SQLite trigger writes


def _stamps_2024(rng: random.Random, n: int) -> list[str]:
    return [_stamp(datetime(2024, 1, 1) + timedelta(seconds=rng.randrange(366 * 86400))) for _ in range(n)]


def _business_days(start: date, end: date) -> list[date]:
    return [start + timedelta(d) for d in range((end - start).days + 1)
            if (start + timedelta(d)).weekday() < 5]


def _currencies(countries: list[str], seed: int) -> dict[str, str]:
    others = sorted(set(countries) - set(FIXED_CURRENCY))
    mix = {c: OTHER_CURRENCIES[(i + seed) % len(OTHER_CURRENCIES)] for i, c in enumerate(others)}
    return {**mix, **FIXED_CURRENCY}


def _in_list(sql: str) -> TextClause:
    """`sql` with `:keys` bound to a Python list (IN :keys), in either dialect."""
    return text(sql).bindparams(bindparam("keys", expanding=True))


def _update(conn: Connection, sql: str, rows: list[dict]) -> None:
    if rows:
        conn.execute(text(sql), rows)


def _insert(conn: Connection, table: str, columns: str, rows: list[tuple]) -> None:
    """INSERT rows given as tuples in `columns` order; dates go as ISO text, which both dialects accept."""
    names = [c.strip() for c in columns.split(",")]
    _update(conn, f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + c for c in names)})",
            [{c: v.isoformat() if isinstance(v, date) else v for c, v in zip(names, row, strict=True)}
             for row in rows])


def _seed_columns(conn: Connection, seed: int) -> None:
    rng = random.Random(f"{seed}:columns")
    customers = conn.execute(text(
        "SELECT customer_id, country, EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id)"
        " FROM customers c ORDER BY customer_id")).all()
    currency = _currencies([c[1] for c in customers], seed)
    _update(conn, "UPDATE customers SET lead_source = :s, status = :st, currency = :c WHERE customer_id = :k",
            [{"k": k, "s": rng.choice(LEAD_SOURCES), "c": currency[country],
              "st": "active" if has_orders and rng.random() > 0.12 else "inactive"}
             for k, country, has_orders in customers])
    conn.execute(text("UPDATE orders SET currency = (SELECT c.currency FROM customers c "
                      "WHERE c.customer_id = orders.customer_id)"))
    _one_company(conn)
    conn.execute(text(
        "UPDATE order_details SET line_id = r.n FROM (SELECT order_id AS o, product_id AS p, "
        "row_number() OVER (ORDER BY order_id, product_id) AS n FROM order_details) AS r "
        "WHERE order_details.order_id = r.o AND order_details.product_id = r.p"))
    conn.execute(text("CREATE UNIQUE INDEX ux_order_details_line_id ON order_details (line_id)"))
    for table, key in KEYS.items():
        keys = conn.execute(text(f"SELECT {key} FROM {table} ORDER BY {key}")).scalars().all()
        _update(conn, f"UPDATE {table} SET updated_at = :u WHERE {key} = :k",
                [{"k": k, "u": u} for k, u in zip(keys, _stamps_2024(rng, len(keys)), strict=True)])


def _one_company(conn: Connection) -> None:
    """Northwind's order dates moved into the company's period; its nine employees replaced by the first
    nine of the sales team, with HR's names, titles, hire dates and work e-mails (demo/company.py)."""
    dated = conn.execute(text("SELECT order_id, order_date, required_date, shipped_date FROM orders")).all()
    _update(conn, "UPDATE orders SET order_date = :o, required_date = :r, shipped_date = :s WHERE order_id = :k",
            [{"k": k, **{c: shift(_day(v)).isoformat() if v is not None else None
                         for c, v in (("o", o), ("r", r), ("s", sh))}} for k, o, r, sh in dated])
    if conn.dialect.name == "postgresql":  # Northwind's varchar(10) is too short for 'Christopher'
        conn.execute(text("ALTER TABLE employees ALTER COLUMN first_name TYPE VARCHAR(40), "
                          "ALTER COLUMN last_name TYPE VARCHAR(40)"))
    ids = conn.execute(text("SELECT employee_id FROM employees ORDER BY employee_id")).scalars().all()
    _update(conn, "UPDATE employees SET first_name = :f, last_name = :l, title = :t, email = :e, hire_date = :h "
                  "WHERE employee_id = :k",
            [{"k": k, "f": p["first_name"], "l": p["last_name"], "t": p["title"], "e": p["email"],
              "h": p["hire_date"].isoformat()} for k, p in zip(ids, sales_team(), strict=False)])


def _invoice_amounts(conn: Connection, order_ids: list[int]) -> dict[int, list]:
    """order_id -> [customer_id, shipped_date, currency, net, tax, total] for the shipped ones."""
    select = _in_list("SELECT o.order_id, o.customer_id, o.shipped_date, o.currency, d.unit_price, "
                      "d.quantity, d.discount FROM orders o JOIN order_details d ON d.order_id = o.order_id "
                      "WHERE o.shipped_date IS NOT NULL AND o.order_id IN :keys ORDER BY d.line_id")
    orders: dict[int, list] = {}
    for oid, cid, shipped, cur, price, qty, disc in conn.execute(select, {"keys": order_ids}):
        orders.setdefault(oid, [cid, _day(shipped), cur, 0.0])[3] += price * qty * (1 - disc)
    for amounts in orders.values():
        net = round(amounts[3], 2)
        tax = round(net * TAX_RATE[amounts[2]], 2)
        amounts[3:] = [net, tax, round(net + tax, 2)]
    return orders


def _insert_invoices(conn: Connection, order_ids: list[int], rng: random.Random, stamps: list[str]) -> None:
    """One invoice per shipped order among order_ids, numbered on from the highest invoice_id."""
    first = conn.execute(text("SELECT coalesce(max(invoice_id), 0) FROM invoices")).scalar_one() + 1
    by_date = sorted(_invoice_amounts(conn, order_ids).items(), key=lambda o: (o[1][1], o[0]))
    rows = []
    for i, (oid, (cid, day, cur, net, tax, total)) in enumerate(by_date):
        due = day + timedelta(PAYMENT_DAYS)
        status = "open" if due >= AS_OF else "paid" if rng.random() < 0.9 else "overdue"
        rows.append((first + i, oid, cid, day, due, cur, net, tax, total, status, stamps[i]))
    _insert(conn, "invoices", "invoice_id, order_id, customer_id, invoice_date, due_date, currency, "
                              "net_amount, tax_amount, total_amount, status, updated_at", rows)


def _insert_fx_rates(conn: Connection, seed: int) -> None:
    rng, rows = random.Random(f"{seed}:fx"), []
    for start, end in ((FX_START, FX_END),):
        for currency, rate in BASE_RATE_TO_USD.items():
            for day in _business_days(start, end):
                rate = rate if currency == "USD" else rate * (1 + rng.gauss(0, 0.004))
                if (currency, day) not in MISSING_FX_DATES:
                    rows.append((day, currency, round(rate, 6)))
    _insert(conn, "fx_rates", "rate_date, currency, rate_to_usd", rows)


def _create_triggers(conn: Connection) -> None:
    dialect = conn.dialect.name
    statements = [PG_TRIGGER_FUNCTION] if dialect == "postgresql" else []
    _run(conn, statements + [TRIGGER_SQL[dialect].format(t=t) for t in KEYS])


def build_erp(url: str, seed: int = 42) -> dict[str, int]:
    """Drop and recreate the demo ERP at `url`; returns row counts per table."""
    with _transaction(url) as conn:
        cascade = " CASCADE" if conn.dialect.name == "postgresql" else ""
        _run(conn, [f"DROP TABLE IF EXISTS {t}{cascade}" for t in ["sales_orders", "invoices", "fx_rates",
                                                                   *reversed(northwind_tables())]])
        _run(conn, _northwind_sql(conn.dialect.name) + EXTENSION_DDL)
        _seed_columns(conn, seed)
        shipped = conn.execute(text("SELECT order_id FROM orders WHERE shipped_date IS NOT NULL")).scalars()
        ids = list(shipped)
        rng = random.Random(f"{seed}:invoices")
        _insert_invoices(conn, ids, rng, _stamps_2024(rng, len(ids)))
        _insert_fx_rates(conn, seed)
        _create_triggers(conn)
        _run(conn, [sales_orders_ddl(conn.dialect.name)])
    return row_counts(url)


def row_counts(url: str) -> dict[str, int]:
    """Rows per table of the demo ERP at `url`, Northwind's tables first."""
    with _transaction(url) as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in [*northwind_tables(), "invoices", "fx_rates", "sales_orders"]}


def missing_fx_dates(url: str) -> list[tuple[str, date]]:
    """(currency, business day) pairs in FX_START..FX_END that have no rate in the database."""
    with _transaction(url) as conn:
        have = {(c, _day(d)) for d, c in conn.execute(text("SELECT rate_date, currency FROM fx_rates"))}
    return [(c, d) for c in sorted(BASE_RATE_TO_USD) for d in _business_days(FX_START, FX_END)
            if (c, d) not in have]


def touch_erp(url: str, table: str, fraction: float, seed: int) -> list:
    """Change a deterministic `fraction` of `table`'s rows (see TOUCH_SET); returns their keys, sorted.

    The trigger bumps updated_at on exactly those rows. Touching order_details also re-totals the
    invoices of the affected orders (so those invoices get a new updated_at too)."""
    if table not in TOUCH_SET:
        raise ValueError(f"touch_erp: unknown table {table!r}; expected one of {sorted(TOUCH_SET)}")
    if not 0 < fraction <= 1:
        raise ValueError(f"touch_erp: fraction must be in (0, 1], got {fraction}")
    key = KEYS[table]
    with _transaction(url) as conn:
        keys = conn.execute(text(f"SELECT {key} FROM {table} ORDER BY {key}")).scalars().all()
        count = max(1, round(fraction * len(keys)))
        chosen = sorted(random.Random(f"{seed}:touch:{table}").sample(keys, count))
        update = _in_list(f"UPDATE {table} SET {TOUCH_SET[table]} WHERE {key} IN :keys")
        conn.execute(update, {"keys": chosen})
        if table == "order_details":
            _retotal_invoices(conn, chosen)
    return chosen


def _retotal_invoices(conn: Connection, line_ids: list[int]) -> None:
    orders = _in_list("SELECT DISTINCT order_id FROM order_details WHERE line_id IN :keys")
    ids = conn.execute(orders, {"keys": line_ids}).scalars()
    amounts = _invoice_amounts(conn, list(ids))
    sql = "UPDATE invoices SET net_amount = :n, tax_amount = :t, total_amount = :a WHERE order_id = :o"
    _update(conn, sql, [{"o": o, "n": net, "t": tax, "a": total}
                        for o, (*_, net, tax, total) in amounts.items()])


ORDER_COLUMNS = ("order_id, customer_id, employee_id, order_date, required_date, shipped_date, ship_via, "
                 "freight, ship_name, ship_address, ship_city, ship_region, ship_postal_code, ship_country, "
                 "currency, updated_at")
LINE_COLUMNS = "order_id, product_id, unit_price, quantity, discount, line_id, updated_at"


def _new_order(rng: random.Random, order_id: int, customer: tuple, rep: int, now: str) -> tuple:
    """An order as an ERP user would enter it: a business day after Northwind's, shipped within a week."""
    days = _business_days(NEW_ORDERS_FROM, FX_END)
    i = rng.randrange(len(days) - 10)
    cid, name, address, city, region, postcode, country, currency = customer
    return (order_id, cid, rep, days[i], days[i] + timedelta(28), days[i + rng.randint(1, 5)],
            rng.randint(1, 3), round(rng.uniform(1, 200), 2), name, address, city, region, postcode,
            country, currency, now)


def _new_lines(rng: random.Random, order_id: int, products: Sequence, first_line: int, now: str) -> list:
    discounts = (0, 0, 0, 0.05, 0.1, 0.15, 0.2, 0.25)  # Northwind's own discount steps
    return [(order_id, product_id, price, rng.randint(1, 40), rng.choice(discounts), first_line + j, now)
            for j, (product_id, price) in enumerate(rng.sample(products, rng.randint(1, 4)))]


def add_orders(url: str, n: int, seed: int) -> list[int]:
    """Add `n` shipped orders (1-4 lines each) after Northwind's last one, each with its invoice.

    New rows carry the database's current time in updated_at, like rows an ERP user just entered."""
    rng = random.Random(f"{seed}:add_orders")
    with _transaction(url) as conn:
        now = conn.execute(text(f"SELECT {NOW_SQL[conn.dialect.name]}")).scalar_one()
        now = now if isinstance(now, str) else _stamp(now)
        customers = conn.execute(text(
            "SELECT customer_id, company_name, address, city, region, postal_code, country, currency "
            "FROM customers WHERE status = 'active' ORDER BY customer_id")).all()
        reps = conn.execute(text("SELECT employee_id FROM employees ORDER BY employee_id")).scalars().all()
        products = conn.execute(text("SELECT product_id, unit_price FROM products "
                                     "WHERE discontinued = 0 ORDER BY product_id")).all()
        last_order, last_line = conn.execute(text(
            "SELECT (SELECT max(order_id) FROM orders), (SELECT max(line_id) FROM order_details)")).one()
        ids = list(range(last_order + 1, last_order + 1 + n))
        orders: list[tuple] = []
        lines: list[tuple] = []
        for order_id in ids:
            orders.append(_new_order(rng, order_id, rng.choice(customers), rng.choice(reps), now))
            lines += _new_lines(rng, order_id, products, last_line + len(lines) + 1, now)
        _insert(conn, "orders", ORDER_COLUMNS, orders)
        _insert(conn, "order_details", LINE_COLUMNS, lines)
        _insert_invoices(conn, ids, rng, [now] * n)
    return ids


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the demo ERP (Northwind + ERP extras).")
    parser.add_argument("--url", default="sqlite:///var/demo/erp.sqlite", help="SQLAlchemy database URL")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    for table, count in build_erp(args.url, args.seed).items():
        print(f"{table:24} {count:>6}")


if __name__ == "__main__":
    main()
