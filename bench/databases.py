"""Throw-away databases for a benchmark run: a SQLite file under a temporary folder, or a fresh
PostgreSQL database created through a server URL and dropped at the end (as tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from server import migrate
from server.db import make_engine

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
PG_ENV = "YORISOI_BENCH_POSTGRES_URL"


def postgres_server() -> str:
    return os.environ.get(PG_ENV, DEFAULT_PG)


@contextmanager
def temporary_url(kind: str, server_url: str = "") -> Iterator[str]:
    """The URL of an empty database of this kind (`sqlite` or `postgres`), removed afterwards."""
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="yorisoi-bench-")
        try:
            yield f"sqlite:///{folder}/bench.sqlite3"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    base = server_url or postgres_server()
    name = f"yorisoi_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def temporary_database(kind: str, server_url: str = "") -> Iterator[Engine]:
    """A migrated, empty database's engine; the database is removed afterwards."""
    with temporary_url(kind, server_url) as url:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            yield engine
        finally:
            engine.dispose()


def versions(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar_one())
        return str(conn.execute(text("show server_version")).scalar_one()).join(("PostgreSQL ", ""))
