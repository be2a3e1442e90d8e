"""Engine, session factory and the declarative Base.

Timestamps are always timezone-aware UTC: SQLite stores no offset, so `UTCDateTime` adds it back on
the way out and refuses naive datetimes on the way in (a naive datetime is a bug waiting to shift
a visit by nine hours).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, MetaData, create_engine, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every engine."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


# SQLite reads the first this-many bytes of the database file straight from a memory map instead of
# copying each page with read() into the connection's own page cache (2 MB by default). The mapped
# pages are the kernel's file cache, which holds them anyway and shares them between connections;
# the map itself costs address space only. At default size the dashboard took 134 → 94 ms and a first
# sync 961 → 914 ms (docs/performance.md, "Session 10 (issue #9): SQLite reads through a memory map").
SQLITE_MMAP_BYTES = 1 << 30


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cur.close()


def make_engine(url: str, *, sqlite_immediate: bool = True, **kwargs: Any) -> Engine:
    """Create an engine; psycopg 3 is the PostgreSQL driver.

    On SQLite every transaction begins with BEGIN IMMEDIATE (`sqlite_immediate`): it takes the write
    lock at once, so concurrent requests queue on busy_timeout instead of failing when a read
    transaction later tries to write. Tests that only inspect the database pass False, so a test
    holding a session open does not block the app under test."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # SQLite: take the write lock at BEGIN, so two writers queue instead of failing mid-transaction.
        begin = "BEGIN IMMEDIATE" if sqlite_immediate else "BEGIN"
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))

        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        return engine
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


# A pooled PostgreSQL connection idle for this long is pinged before it is handed out again.
PING_IDLE_SECONDS = 10.0
_CHECKED_IN = "yorisoi.checked_in"


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before reuse only when it sat idle for `PING_IDLE_SECONDS`.

    `pool_pre_ping` pings on every checkout: one more round trip, and the Python around it, for
    every request (issue #9: in the morning burst a connection goes back to the pool and out again
    within milliseconds). A connection that died while idle (the database restarted, a firewall
    dropped it) is still found and replaced before a request gets it; one that dies within the
    window fails its request as the database being unavailable (503 `server_busy`, the phone
    retries: server/views/base.py) and SQLAlchemy discards the pool's connections from before."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        since = record.info.get(_CHECKED_IN)
        if since is None or time.monotonic() - since < PING_IDLE_SECONDS:
            return  # just connected, or back in the pool only moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as err:
            # The pool closes this connection and checks out another (or connects afresh).
            raise exc.DisconnectionError("idle connection found closed") from err


def pool_options(url: str, size: int, overflow: int, timeout: float) -> dict[str, Any]:
    """`create_engine` arguments for the connection pool of a served app.

    The pool holds `size` connections and opens up to `overflow` more under load; a request that
    finds none free waits `timeout` seconds and then fails with SQLAlchemy's `TimeoutError`
    (answered 503 by server/views/base.py). In-memory SQLite keeps one connection per thread and
    takes no pool sizes."""
    if url.startswith("sqlite") and (":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite+pysqlite:")):
        return {}
    return {"pool_size": size, "max_overflow": overflow, "pool_timeout": timeout}


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
