"""Shared fixtures: a real, migrated database per test session, isolated per test.

SQLite by default (a file in a temporary folder). With YORISOI_TEST_DATABASE_URL set to a
PostgreSQL URL, a uniquely named database is created through it for this run and dropped at the
end, so parallel runs never share state. Each test starts from an empty, migrated schema: tables
are emptied after every test (cheaper than re-migrating, and it also covers work committed by the
app under test, which a rolled-back outer transaction would not), children first.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server import migrate
from server.app import create_app
from server.db import Base, make_engine, make_session_factory
from server.settings import Settings
from tests.factories import Factory
from tests.sync_support import Clients

PG_URL = os.environ.get("YORISOI_TEST_DATABASE_URL", "")
KEEP_ROWS = {"sync_counter", "server_state", "alembic_version", "audit_head"}


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    name = f"yorisoi_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


def _truncate(engine: Engine) -> None:
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name not in KEEP_ROWS]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # DELETE, children first, in one round trip: a test leaves a few rows, and on PostgreSQL
            # TRUNCATE of 30 tables costs 0.25-0.35 s (new files for each, synced) where this takes ~3 ms.
            conn.exec_driver_sql("; ".join(f'DELETE FROM "{t.name}"' for t in tables))  # noqa: S608 (names from our metadata)
        else:
            for t in tables:
                conn.execute(t.delete())
        # The audit chain starts again with the emptied audit log.
        conn.execute(text("UPDATE audit_head SET seq = 0, hash = :h"), {"h": "0" * 64})


@pytest.fixture(scope="session")
def test_engine(database_url: str, engine: Engine) -> Iterator[Engine]:
    """The tests' own engine: on SQLite its transactions begin deferred, so a test that keeps a
    session open to inspect rows does not hold the write lock the app under test needs."""
    eng = make_engine(database_url, sqlite_immediate=False)
    yield eng
    eng.dispose()


@pytest.fixture
def db_factory(engine: Engine, test_engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield make_session_factory(test_engine)
    _truncate(engine)


@pytest.fixture
def writer_factory(engine: Engine, db_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions for a test that *writes* while a live server writes too: on SQLite they begin
    IMMEDIATE, as the app's do. A deferred transaction that reads first and then writes fails at once
    with "database is locked" when the server committed in between (WAL cannot upgrade a stale
    snapshot); an immediate one waits its turn."""
    return make_session_factory(engine)


@pytest.fixture
def db(db_factory: sessionmaker[Session]) -> Iterator[Session]:
    with db_factory() as session:
        yield session


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        base_url="http://testserver",
        login_lock_seconds=60,
    )


@pytest.fixture
def app(settings: Settings, db_factory: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        yield c


@pytest.fixture
def factory(db_factory: sessionmaker[Session]) -> Factory:
    return Factory(db_factory)


@pytest.fixture
def clients(app) -> Iterator[Clients]:  # type: ignore[no-untyped-def]
    """Phones and office sessions talking to the app under test (tests/sync_support.py)."""
    made = Clients(app)
    yield made
    made.close()
