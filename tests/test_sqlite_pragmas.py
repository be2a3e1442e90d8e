"""Every SQLite connection the app opens is set up the same way (server/db.py): foreign keys
enforced, WAL, a busy timeout, NORMAL sync, and reads through a memory map (issue #9). On a SQLite
file of its own, so it runs in the PostgreSQL pass as well."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from server import db


def test_each_new_connection_gets_every_setting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pragmas.sqlite3'}"
    eng = db.make_engine(url, sqlite_immediate=False, pool_size=2, max_overflow=0)
    try:
        with eng.connect() as first, eng.connect() as second:  # two pooled connections, each set up
            for conn in (first, second):

                def pragma(name: str) -> object:
                    return conn.execute(text(f"PRAGMA {name}")).scalar_one()  # noqa: B023

                assert pragma("foreign_keys") == 1
                assert pragma("journal_mode") == "wal"
                assert pragma("busy_timeout") == 10000
                assert pragma("synchronous") == 1  # NORMAL
                assert pragma("mmap_size") == db.SQLITE_MMAP_BYTES
    finally:
        eng.dispose()
