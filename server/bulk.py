"""Bulk INSERT of many rows of one table: PostgreSQL's COPY above a few dozen rows.

A push of 500 contacts writes 500 contacts, 500 `sync_mutation` rows and 500 audit rows. On
PostgreSQL an executemany INSERT of 500 rows costs about twice what `COPY … FROM STDIN` costs
(docs/performance.md, the push). `insert_rows` stores exactly what `session.execute(insert(table),
rows)` would: each column's SQLAlchemy bind processing (the UTC datetime, JSON wrapped for psycopg),
the Python-side defaults of the columns a row leaves out, server defaults left to the database; a
failure raises the SQLAlchemy exception the executemany would (`IntegrityError` for a taken key,
`OperationalError`…), and the engine's `before/after_cursor_execute` listeners see the COPY.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

# Below this many rows an executemany INSERT is as fast: COPY's round trips are fixed costs.
COPY_FROM = 50


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]], *, copy_from: int = COPY_FROM) -> None:
    """`session.execute(insert(table), rows)`, by COPY on PostgreSQL from `copy_from` rows up."""
    if not rows:
        return
    conn = session.connection()
    plan = _copy_plan(table, rows) if len(rows) >= copy_from and conn.dialect.name == "postgresql" else None
    if plan is None:
        session.execute(insert(table), list(rows))
        return
    given, defaults = plan
    dialect = conn.dialect
    columns = [table.c[key] for key in given] + defaults
    names = [c.name for c in columns]
    # Each column's bind processing for this dialect (TypeDecorators included), as an INSERT applies.
    processors: list[Callable[[Any], Any] | None] = [
        c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns
    ]
    quote = dialect.identifier_preparer.quote
    statement = f"COPY {dialect.identifier_preparer.format_table(table)} ({', '.join(map(quote, names))}) FROM STDIN"
    values = []
    for row in rows:
        # Python-side defaults, evaluated per row as the executemany does (SQLAlchemy wraps a
        # zero-argument callable into one taking the execution context).
        record = [row[name] for name in given] + [
            c.default.arg(None) if c.default.is_callable else c.default.arg for c in defaults
        ]
        values.append([v if p is None else p(v) for v, p in zip(record, processors, strict=True)])
    raw = conn.connection.driver_connection  # psycopg's, inside the session's transaction
    if not isinstance(raw, psycopg.Connection):
        raise TypeError("COPY needs psycopg 3")
    with raw.cursor() as cursor:
        # The engine's statement listeners see the COPY (a no-op without listeners).
        conn.dispatch.before_cursor_execute(conn, cursor, statement, rows, None, True)
        try:
            with cursor.copy(statement) as copy:
                for value in values:
                    copy.write_row(value)
        except psycopg.Error as exc:
            raise DBAPIError.instance(statement, None, exc, psycopg.Error, dialect=dialect) from exc
        conn.dispatch.after_cursor_execute(conn, cursor, statement, rows, None, True)


def _copy_plan(table: Table, rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[Any]] | None:
    """The columns the rows give, and the columns left out that take a Python-side scalar or
    callable default; None (use the executemany) when the rows differ in shape or a left-out
    column's default is a SQL expression or a sequence."""
    given = list(rows[0])
    keys = set(given)
    if any(row.keys() != keys for row in rows) or not keys <= set(table.c.keys()):
        return None
    defaults = []
    for column in table.columns:
        if column.name in keys or column.default is None:
            continue
        if not (column.default.is_scalar or column.default.is_callable):
            return None
        defaults.append(column)
    return given, defaults


def unnest_insert(table: Table, columns: Sequence[str], constants: Sequence[str] = ()) -> postgresql.Insert:
    """PostgreSQL: `INSERT INTO table (columns…, constants…) SELECT r.*, :constants… FROM
    unnest(:columns…) AS r` — many rows in one statement, one array parameter per column and one
    parameter per column whose value every row shares; executed with `unnest_params`. A multi-row
    `VALUES` puts a placeholder per value in the statement's text, which psycopg parses anew for
    each statement (too long for its cache): 0.1–0.2 s per 1,000 rows of 11 columns here
    (docs/performance.md, the first stall evaluation). Columns left out take their Python-side
    scalar defaults; a column whose default is computed per row (a new id) must be given."""
    given = {*columns, *constants}
    for column in table.columns:
        if column.name not in given and column.default is not None and column.default.is_callable:
            raise ValueError(f"unnest_insert: {table.name}.{column.name} has a per-row default: give it")
    arrays = [bindparam(f"unnest_{name}", type_=postgresql.ARRAY(table.c[name].type)) for name in columns]
    rows = func.unnest(*arrays).table_valued(*columns).render_derived(name="r")
    shared = [bindparam(f"shared_{name}", type_=table.c[name].type) for name in constants]
    return postgresql.insert(table).from_select([*columns, *constants], select(*rows.c, *shared))


def unnest_params(columns: Sequence[str], rows: Sequence[dict[str, Any]], constants: dict[str, Any]) -> dict[str, Any]:
    """The parameters of `unnest_insert(table, columns, constants)` for these rows."""
    arrays = {f"unnest_{name}": [row[name] for row in rows] for name in columns}
    return arrays | {f"shared_{name}": value for name, value in constants.items()}
