"""Pooled PostgreSQL connections are pinged before reuse only after sitting idle (server/db.py,
issue #9): no round trip per request in a burst, and a connection that died while idle is still
replaced before a request gets it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from server import db

pytestmark = pytest.mark.usefixtures("engine")


@pytest.fixture
def pg(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, list[Any]]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the idle ping is PostgreSQL's (SQLite has no server to lose)")
    eng = db.make_engine(database_url, pool_size=1, max_overflow=0)
    pings: list[Any] = []
    real = eng.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(eng.dialect, "do_ping", counted)
    yield eng, pings
    eng.dispose()


def _backend(eng: Engine) -> int:
    with eng.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_back_in_the_pool_moments_ago_is_not_pinged(pg: tuple[Engine, list[Any]]) -> None:
    eng, pings = pg
    first = _backend(eng)
    for _ in range(5):
        assert _backend(eng) == first  # the same pooled connection each time
    assert pings == []


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(
    pg: tuple[Engine, list[Any]], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng, pings = pg
    first = _backend(eng)
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 0.0)  # every connection counts as idle now
    assert _backend(eng) == first
    assert len(pings) == 1
    admin = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    finally:
        admin.dispose()
    replaced = _backend(eng)  # no error: the dead connection was found at checkout and replaced
    assert replaced != first
    assert len(pings) == 2
