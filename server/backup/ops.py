"""Backup and restore of the whole database.

Backup: one consistent snapshot (a REPEATABLE READ transaction on PostgreSQL, a read transaction on
SQLite in WAL mode), every table in foreign-key order, rows streamed in primary-key order.

Restore, into an empty database (or with `force`, one that is emptied first):
1. the whole file is read and authenticated once before the database is touched (wrong key,
   changed or cut-short file: nothing is restored);
2. the schema is dropped and migrated to the backup's revision; rows are loaded in one transaction;
3. the schema is upgraded to head;
4. PostgreSQL identity sequences are set past the restored rows;
5. the server gets a NEW epoch (sync/PROTOCOL.md §9): every phone pulls its scope afresh and
   re-sends the mutations the restored server lacks; every session of the backup ends;
6. the audit chain is verified and the restore itself is audited;
7. PostgreSQL gathers the planner's statistics (ANALYZE): fresh tables have none until autovacuum
   comes round, and without them the stall rules' first statement at 40,000 cases ran for minutes;
8. the derived tables kept from a watermark (services/kept.py) are brought up to date, as
   `yorisoi migrate` does, so the first dashboard or evaluation does not build them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Column, MetaData, Table, delete, func, insert, inspect, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from server import migrate
from server.backup import fileformat
from server.backup.crypto import BackupError
from server.db import Base, utcnow
from server.models import UserSession

BATCH = 1000
# Rows that `yorisoi migrate` creates by itself: a database holding only these is empty.
SINGLETONS = frozenset({"alembic_version", "sync_counter", "server_state", "audit_head"})


@dataclass
class BackupReport:
    revision: str
    counts: dict[str, int]
    size: int
    seconds: float
    encrypted: bool


@dataclass
class RestoreReport:
    revision: str
    counts: dict[str, int]
    seconds: float
    epoch: str
    audit_rows: int
    audit_breaks: list[str] = field(default_factory=list)
    sessions_ended: int = 0


def _revision(conn: Connection) -> str:
    if not inspect(conn).has_table("alembic_version"):
        raise BackupError("the database has no schema (run `yorisoi migrate` first)")
    rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if not rev:
        raise BackupError("the database has no schema revision")
    return str(rev)


def _known_revisions() -> tuple[str, set[str]]:
    """(head, every revision this code's migrations know)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    return str(scripts.get_current_head()), {s.revision for s in scripts.walk_revisions()}


def backup(engine: Engine, path: Path, key: str) -> BackupReport:
    """Write a backup of the whole database to `path` (encrypted when `key` is not empty)."""
    from server.services import audit

    started = time.monotonic()
    with Session(engine) as session, session.begin():  # audited first, so the backup holds its own event
        audit.record(session, None, "backup.create", outcome="ok", detail="encrypted" if key else "plain")
    tmp = path.with_name(path.name + ".partial")
    counts: dict[str, int] = {}
    conn_opts: dict[str, Any] = {}
    if engine.dialect.name == "postgresql":
        conn_opts = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**conn_opts) as conn:
        # SQLite (WAL): the connection's transaction, begun at the first statement, is one snapshot
        # for every table; pass an engine without BEGIN IMMEDIATE so the app can write meanwhile.
        revision = _revision(conn)
        if revision != _known_revisions()[0]:
            raise BackupError(f"the database is at schema {revision}, not the newest: run `yorisoi migrate` first")
        out = fileformat.Writer(tmp, key)
        try:
            out.line(
                {
                    "format": fileformat.FORMAT,
                    "version": fileformat.VERSION,
                    "revision": revision,
                    "created_at": utcnow().isoformat(),
                    "engine": engine.dialect.name,
                }
            )
            for table in Base.metadata.sorted_tables:
                cols = [c.name for c in table.columns]
                out.line({"table": table.name, "columns": cols})
                n = 0
                order = list(table.primary_key.columns) or list(table.columns)
                result = conn.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
                for row in result:
                    out.line([fileformat.encode(v) for v in row])
                    n += 1
                out.line({"end": table.name, "rows": n})
                counts[table.name] = n
            out.line({"done": True, "counts": counts})
        except BaseException:
            out.close()
            tmp.unlink(missing_ok=True)  # no half-written backup left lying around
            raise
        out.close()
        conn.rollback()
    tmp.replace(path)
    return BackupReport(revision, counts, path.stat().st_size, time.monotonic() - started, bool(key))


def is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        insp = inspect(conn)
        for name in insp.get_table_names():
            if name in SINGLETONS:
                continue
            if conn.execute(select(func.count()).select_from(Table(name, MetaData()))).scalar():
                return False
    return True


def _drop_everything(engine: Engine) -> None:
    meta = MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        meta.drop_all(conn)


def _target(conn: Connection, name: str, columns: list[str]) -> tuple[Table, list[Callable[[Any], Any]]]:
    """An insertable table for the backup's columns, bound with the current models' types where the
    column still exists (uuids, UTC datetimes), else with the type reflected from the database."""
    reflected = Table(name, MetaData(), autoload_with=conn)
    model = Base.metadata.tables.get(name)
    cols: list[Column[Any]] = []
    decoders = []
    for c in columns:
        if c not in reflected.c:
            raise BackupError("the backup does not match its schema revision")
        type_ = model.c[c].type if model is not None and c in model.c else reflected.c[c].type
        cols.append(Column(c, type_))
        decoders.append(fileformat.decoder(type_))
    return Table(name, MetaData(), *cols), decoders


def _self_references(name: str, columns: list[str]) -> list[str]:
    """Columns referring to their own table (a contact amending another): loaded as NULL first and
    set once every row is in, so row order within a table does not matter."""
    model = Base.metadata.tables.get(name)
    if model is None:
        return []
    return [fk.parent.name for fk in model.foreign_keys if fk.column.table is model and fk.parent.name in columns]


def _load(conn: Connection, path: Path, key: str) -> None:
    with fileformat.lines(path, key) as it:
        next(it)  # header (checked before)
        table: Table | None = None
        decoders: list[Callable[[Any], Any]] = []
        columns: list[str] = []
        selfref: list[str] = []
        later: list[dict[str, Any]] = []
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            if batch and table is not None:
                conn.execute(insert(table), batch)
                batch.clear()

        for obj in it:
            if isinstance(obj, list):
                row = {c: d(v) for c, d, v in zip(columns, decoders, obj, strict=True)}
                if selfref and any(row[c] is not None for c in selfref):
                    later.append(row)
                    row = {**row, **dict.fromkeys(selfref)}
                batch.append(row)
                if len(batch) >= BATCH:
                    flush()
            elif "table" in obj:
                columns = list(obj["columns"])
                table, decoders = _target(conn, obj["table"], columns)
                selfref = _self_references(obj["table"], columns)
                if obj["table"] in SINGLETONS:
                    conn.execute(table.delete())  # the migration's own singleton rows give way
            elif "end" in obj:
                flush()
                if later and table is not None:
                    pk = [c.name for c in Base.metadata.tables[table.name].primary_key.columns]
                    for row in later:
                        where = [table.c[c] == row[c] for c in pk]
                        conn.execute(update(table).where(*where).values({c: row[c] for c in selfref}))
                later.clear()
            elif obj.get("done"):
                return


def _reset_sequences(conn: Connection) -> None:
    """PostgreSQL: identity and serial columns continue after the restored rows (audit_log.seq)."""
    if conn.dialect.name != "postgresql":
        return
    for table in Base.metadata.sorted_tables:
        for col in table.primary_key.columns:
            seq = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": f'"{table.name}"', "c": col.name}
            ).scalar()
            if seq:
                top = conn.execute(select(func.max(col))).scalar()
                conn.execute(
                    text("SELECT setval(CAST(:s AS regclass), :v, :called)"),
                    {"s": seq, "v": top or 1, "called": top is not None},
                )


def restore(engine: Engine, path: Path, key: str, *, force: bool = False) -> RestoreReport:
    """Restore `path` into the database of `engine` (see the module docstring for the steps)."""
    from server.services import audit
    from sync.cursor import rotate_epoch

    started = time.monotonic()
    header = fileformat.check(path, key)  # 1. before touching the database
    revision = str(header["revision"])
    if revision not in _known_revisions()[1]:
        raise BackupError(f"the backup's schema {revision} is unknown to this Yorisoi: restore it with a newer version")
    if not force and not is_empty(engine):
        raise BackupError("the database is not empty; restore into a new database, or add --force to replace it")
    _drop_everything(engine)  # 2. (empty of case data already, or --force)
    cfg = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
        _load(conn, path, key)
    migrate.upgrade(engine)  # 3. to head, singleton rows ensured
    with Session(engine) as session:
        counts = {
            t.name: int(session.scalar(select(func.count()).select_from(t)) or 0) for t in Base.metadata.sorted_tables
        }
        audit_rows = counts.get("audit_log", 0)
        breaks = [f"seq {b.seq}: {b.problem}" for b in audit.verify(session)]  # 6.
    with Session(engine) as session, session.begin():
        epoch = rotate_epoch(session)  # 5.
        # Every session of the backup ends: a sign-out, a password change or a device revoked after
        # the backup was taken would otherwise come back to life. Everyone signs in again.
        ended = int(session.scalar(select(func.count()).select_from(UserSession)) or 0)
        session.execute(delete(UserSession))
        audit.record(
            session,
            None,
            "backup.restore",
            outcome="ok" if not breaks else "failed",
            detail=f"revision {revision}, backup of {str(header.get('created_at', ''))[:19]}, {ended} sessions ended",
        )
    with engine.begin() as conn:
        _reset_sequences(conn)  # 4. (after the restore's own audit row)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")  # 7.
    migrate.refresh_kept(engine)  # 8.
    counts["user_session"] = 0
    return RestoreReport(revision, counts, time.monotonic() - started, str(epoch), audit_rows, breaks, ended)
