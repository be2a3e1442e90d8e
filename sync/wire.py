"""Ids, times and dates that the pull only sends, read as their wire text, written by the database.

A pull's rows are mostly contacts and milestones whose `recorded_by`, `amends_id`, `occurred_at`,
`received_at` and dates are never looked at, only encoded. Read as typed values, each costs a
Python object built per value — on SQLite a `uuid.UUID` from the stored hex and a datetime parsed
from the stored text plus `UTCDateTime`'s `replace`, on PostgreSQL `UTCDateTime`'s `astimezone` —
≈ 40,000 values an initial chain. Read as text formatted by the database (in C), each is one str.

The text is exactly what the answer's encoder (orjson, server/views/base.py) writes for the typed
value, which tests/test_sync_wire.py checks on both engines:

- a UUID: canonical, lower case, with dashes (SQLite stores 32 hex digits);
- a `UTCDateTime`: ISO 8601 `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`, the fraction only when not zero
  (SQLite stores `YYYY-MM-DD HH:MM:SS.ffffff`, UTC, naive);
- a date: `YYYY-MM-DD`.

NULL stays NULL. Only for columns nothing reads but the serializer (sync/stream.py `Kind.columns`):
the stream's keys and liveness stay typed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Date, Text, Uuid
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from server.db import UTCDateTime


class _Wire(FunctionElement[str]):
    type = Text()
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)


class uuid_text(_Wire):  # lower case: SQLAlchemy's convention for SQL functions
    name = "uuid_text"
    inherit_cache = True


class utc_text(_Wire):
    name = "utc_text"
    inherit_cache = True


class date_text(_Wire):
    name = "date_text"
    inherit_cache = True


def _arg(element: _Wire, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(uuid_text, "sqlite")
def _uuid_sqlite(element: _Wire, compiler: SQLCompiler, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    parts = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))  # 8-4-4-4-12
    dashed = " || '-' || ".join(f"substr({x}, {start}, {n})" for start, n in parts)
    return f"lower(CASE WHEN length({x}) = 32 THEN {dashed} ELSE {x} END)"


@compiles(uuid_text, "postgresql")
def _uuid_pg(element: _Wire, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({_arg(element, compiler, **kw)} AS TEXT)"


@compiles(utc_text, "sqlite")
def _utc_sqlite(element: _Wire, compiler: SQLCompiler, **kw: Any) -> str:
    x = _arg(element, compiler, **kw)
    fraction = f"substr({x}, 20)"
    return (
        f"substr({x}, 1, 10) || 'T' || substr({x}, 12, 8)"
        f" || CASE WHEN {fraction} IN ('', '.000000') THEN '' ELSE {fraction} END || '+00:00'"
    )


@compiles(utc_text, "postgresql")
def _utc_pg(element: _Wire, compiler: SQLCompiler, **kw: Any) -> str:
    utc = f"({_arg(element, compiler, **kw)} AT TIME ZONE 'UTC')"
    return (
        f"""to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS')"""
        f" || CASE to_char({utc}, 'US') WHEN '000000' THEN '' ELSE '.' || to_char({utc}, 'US') END || '+00:00'"
    )


@compiles(date_text, "sqlite")
def _date_sqlite(element: _Wire, compiler: SQLCompiler, **kw: Any) -> str:
    return _arg(element, compiler, **kw)


@compiles(date_text, "postgresql")
def _date_pg(element: _Wire, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char({_arg(element, compiler, **kw)}, 'YYYY-MM-DD')"


def text(column: ColumnElement[Any]) -> Any:
    """The column as its wire text when it is an id, a UTC time or a date; else None."""
    kind = column.type
    if isinstance(kind, Uuid):
        return uuid_text(column).label(column.key)
    if isinstance(kind, UTCDateTime):
        return utc_text(column).label(column.key)
    if isinstance(kind, Date):
        return date_text(column).label(column.key)
    return None
