"""Restore drill: the demo municipality plus sync activity is backed up, restored into a fresh
database (same engine, and across engines when PostgreSQL is available), and checked: the schema
is current, every table's rows are equal, the audit chain verifies, the server epoch changed, and a
phone that pushed after the backup re-sends what the restored server lacks — applied exactly once.
Encrypted backups: a wrong key or a changed file is refused before anything is restored."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server import migrate
from server.app import create_app
from server.backup import BackupError, backup, restore
from server.backup.fileformat import encode
from server.cli import main
from server.db import Base, make_engine
from server.demo import load_demo
from server.demo_data import PASSWORD as DEMO_PASSWORD
from server.models import AuditEvent, Contact, ServerState
from server.services import audit, report_summary
from server.services import kept as kept_tables
from server.settings import Settings
from tests.factories import login
from tests.sync_support import Phone, contact_args

PG_URL = os.environ.get("YORISOI_TEST_DATABASE_URL", "")
NewDb = Callable[[str], str]


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[NewDb]:
    """Make an empty database of the given engine ("sqlite" or "postgresql"); dropped afterwards."""
    admin = (
        create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
        if PG_URL
        else None
    )
    made: list[str] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'restored-{uuid.uuid4().hex[:6]}.sqlite3'}"
        assert admin is not None
        name = f"yorisoi_r_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    if admin is not None:
        with admin.connect() as conn:
            for name in made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every table's rows, normalised (engine-independent) and sorted."""
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for t in Base.metadata.sorted_tables:
            out[t.name] = sorted(repr([encode(v) for v in row]) for row in conn.execute(select(t)))
    return out


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
            for t in Base.metadata.sorted_tables
        }


def epoch(engine: Engine) -> uuid.UUID:
    with Session(engine) as s:
        return s.scalars(select(ServerState.epoch)).one()


def app_on(url: str, tmp_path: Path) -> Any:
    return create_app(Settings(data_dir=tmp_path / "d", database_url=url, base_url="http://testserver"))


def signed_in(app: Any) -> TestClient:
    c = TestClient(app)
    login(c, "worker1", DEMO_PASSWORD)
    return c


@pytest.fixture
def demo_with_sync(db_factory: sessionmaker[Session], app: Any) -> Iterator[tuple[Phone, list[dict[str, Any]]]]:
    """The demo plus a phone that pushed two contacts; yields the phone and its kept mutations."""
    with db_factory() as s, s.begin():
        load_demo(s)
    http = signed_in(app)
    phone = Phone(http)
    phone.sync()
    case_id = sorted(phone.ids("case"))[0]
    kept = [phone.mutation("contact.create", contact_args(case_id, notes=f"訪問 {i}")) for i in range(2)]
    answer = phone.push(*kept)
    assert [r["status"] for r in answer["results"]] == ["applied", "applied"]
    phone.case_id = case_id  # type: ignore[attr-defined]
    yield phone, kept
    http.close()
    app.state.engine.dispose()


def drill(source: Engine, target_url: str, phone: Phone, kept: list[dict[str, Any]], tmp_path: Path, key: str) -> None:
    """Back up `source`, push two more mutations there, restore into `target_url`, check everything."""
    path = tmp_path / f"drill-{uuid.uuid4().hex[:6]}.bak"
    migrate.refresh_kept(source)  # as the runner keeps them: the derived tables travel too
    report = backup(source, path, key)
    assert path.stat().st_mode & 0o077 == 0  # the service user's only
    before = snapshot(source)
    assert report.counts == {k: len(v) for k, v in before.items()}
    old_epoch = epoch(source)
    # After the backup, the phone goes on: these two are lost by the restore.
    late = [phone.mutation("contact.create", contact_args(phone.case_id, notes=f"後 {i}")) for i in range(2)]  # type: ignore[attr-defined]
    assert [r["status"] for r in phone.push(*late)["results"]] == ["applied", "applied"]
    kept = kept + late
    old_cursor = phone.cursor

    target = make_engine(target_url)
    try:
        done = restore(target, path, key)
        migrate.check(target)  # the schema is current
        assert done.audit_breaks == []
        if target.dialect.name == "postgresql":  # the planner knows the restored tables (ANALYZE)
            with target.connect() as conn:
                tuples = conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'contact'")).scalar()
            assert tuples == len(before["contact"])
        with Session(target) as s:  # the dashboard's summary is complete: no request builds it
            assert kept_tables.watermark(s, report_summary.SUMMARY) == kept_tables.counter(s)
        with Session(target) as s:
            assert list(audit.verify(s)) == []  # still intact with the restore's own event
            assert (
                s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "backup.restore")) == 1
            )
        after = snapshot(target)
        for table, rows in before.items():
            if table == "user_session":
                assert after[table] == []  # every session ends with a restore
            elif table in ("server_state", "audit_head"):
                assert len(after[table]) == len(rows)
            elif table == "audit_log":
                assert after[table][: len(rows)] == rows or set(rows) <= set(after[table])
                assert len(after[table]) == len(rows) + 1
            else:
                assert after[table] == rows, table
        assert epoch(target) != old_epoch and str(epoch(target)) == done.epoch

        # The phone meets the restored server: its cursor is from another epoch, so a reset.
        app = app_on(target_url, tmp_path)
        http = signed_in(app)
        try:
            again = Phone(http, phone.client_id)
            again.cursor = old_cursor
            assert again.pull()["reset"] is True
            contacts = counts(target)["contact"]
            answer = again.push(*kept)  # the kept outbox, original mids (PROTOCOL.md §9)
            assert answer["epoch"] == done.epoch and answer["last_mid"] == 4
            assert [r["status"] for r in answer["results"]] == ["duplicate", "duplicate", "applied", "applied"]
            assert counts(target)["contact"] == contacts + 2
            answer = again.push(*kept)  # and once only
            assert all(r["status"] == "duplicate" for r in answer["results"])
            assert counts(target)["contact"] == contacts + 2
            with Session(target) as s:
                notes = set(s.scalars(select(Contact.notes).where(Contact.device_id == phone.client_id)))
            assert notes == {"訪問 0", "訪問 1", "後 0", "後 1"}
        finally:
            http.close()
            app.state.engine.dispose()
    finally:
        target.dispose()


def test_restore_drill_same_engine(
    demo_with_sync: tuple[Phone, list[dict[str, Any]]], engine: Engine, new_database: NewDb, tmp_path: Path
) -> None:
    phone, kept = demo_with_sync
    drill(engine, new_database(engine.dialect.name), phone, kept, tmp_path, key="")


def test_restore_drill_encrypted(
    demo_with_sync: tuple[Phone, list[dict[str, Any]]], engine: Engine, new_database: NewDb, tmp_path: Path
) -> None:
    phone, kept = demo_with_sync
    drill(engine, new_database(engine.dialect.name), phone, kept, tmp_path, key="correct horse battery")


@pytest.mark.skipif(
    not PG_URL, reason="cross-engine restore needs YORISOI_TEST_DATABASE_URL (runs in CI's PostgreSQL pass)"
)
def test_restore_across_engines(
    demo_with_sync: tuple[Phone, list[dict[str, Any]]], engine: Engine, new_database: NewDb, tmp_path: Path
) -> None:
    """PostgreSQL → SQLite (the drill), then that SQLite → a new PostgreSQL: equal rows both ways."""
    phone, kept = demo_with_sync
    lite_url = new_database("sqlite")
    drill(engine, lite_url, phone, kept, tmp_path, key="k")
    lite = make_engine(lite_url)
    pg = make_engine(new_database("postgresql"))
    try:
        path = tmp_path / "back.bak"
        migrate.refresh_kept(lite)  # the phone pushed since: as the runner would, before the backup
        backup(lite, path, "")
        want = snapshot(lite)
        restore(pg, path, "")
        got = snapshot(pg)
        for table, rows in want.items():
            if table not in ("server_state", "audit_log", "audit_head", "user_session"):
                assert got[table] == rows, table
        assert len(got["audit_log"]) == len(want["audit_log"]) + 1
        with Session(pg) as s:
            assert list(audit.verify(s)) == []
            # the identity sequence continues after the restored rows
            s.add(
                AuditEvent(at=s.scalars(select(AuditEvent.at)).first(), action="t", fields=[], outcome="ok", detail="")
            )
            s.flush()
    finally:
        lite.dispose()
        pg.dispose()


# --- refusals ------------------------------------------------------------------------------------


@pytest.fixture
def small_backup(db_factory: sessionmaker[Session], engine: Engine, tmp_path: Path) -> Callable[[str], Path]:
    with db_factory() as s, s.begin():
        load_demo(s)

    def make(key: str) -> Path:
        path = tmp_path / f"small-{uuid.uuid4().hex[:6]}.bak"
        backup(engine, path, key)
        return path

    return make


def untouched(url: str) -> bool:
    eng = make_engine(url)
    try:
        return inspect(eng).get_table_names() == []
    finally:
        eng.dispose()


def test_a_restore_builds_the_derived_tables_the_backup_lacks(
    small_backup: Callable[[str], Path], new_database: NewDb, engine: Engine
) -> None:
    """A backup whose summary was never built (taken before its migration, or before any dashboard):
    the restore builds it, so the first dashboard does not."""
    with Session(engine) as s:
        assert kept_tables.watermark(s, report_summary.SUMMARY) is None  # nothing built it
    path = small_backup("")
    target = make_engine(new_database(engine.dialect.name))
    try:
        restore(target, path, "")
        with Session(target) as s:
            assert kept_tables.counter(s) > 0
            assert kept_tables.watermark(s, report_summary.SUMMARY) == kept_tables.counter(s)
            assert s.scalar(select(func.count()).select_from(report_summary.SUMMARY.table))
    finally:
        target.dispose()


def test_wrong_key_restores_nothing(small_backup: Callable[[str], Path], new_database: NewDb, engine: Engine) -> None:
    path = small_backup("right key")
    url = new_database(engine.dialect.name)
    target = make_engine(url)
    try:
        with pytest.raises(BackupError, match="key does not open"):
            restore(target, path, "wrong key")
        with pytest.raises(BackupError, match="encrypted: set YORISOI_BACKUP_KEY"):
            restore(target, path, "")
    finally:
        target.dispose()
    assert untouched(url)


@pytest.mark.parametrize("key", ["", "k"])
@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_changed_file_restores_nothing(
    small_backup: Callable[[str], Path], new_database: NewDb, engine: Engine, key: str, damage: str
) -> None:
    path = small_backup(key)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        del data[-100:]
    else:
        data += b"\x00" * 40
    path.write_bytes(bytes(data))
    url = new_database(engine.dialect.name)
    target = make_engine(url)
    try:
        if damage == "append" and not key:
            # gzip tolerates trailing zero padding; the content itself is intact and complete
            restore(target, path, key)
            return
        with pytest.raises(BackupError):
            restore(target, path, key)
    finally:
        target.dispose()
    assert untouched(url)


def test_cli_refuses_a_database_with_data_unless_forced(
    small_backup: Callable[[str], Path],
    engine: Engine,
    new_database: NewDb,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = small_backup("")
    url = new_database(engine.dialect.name)
    monkeypatch.setenv("YORISOI_DATABASE_URL", url)
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.delenv("YORISOI_BACKUP_KEY", raising=False)
    assert main(["restore", str(path)]) == 0
    assert "audit log intact" in capsys.readouterr().out
    assert main(["restore", str(path)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert main(["restore", "--force", str(path)]) == 0
    out = tmp_path / "again.bak"
    monkeypatch.setenv("YORISOI_BACKUP_KEY", "k")
    assert main(["backup", str(out)]) == 0
    assert "encrypted" in capsys.readouterr().out
    assert main(["backup", str(out)]) == 2  # never overwrites by accident


def test_backup_from_a_newer_schema_is_refused_before_anything_changes(
    new_database: NewDb, engine: Engine, tmp_path: Path
) -> None:
    from server.backup import fileformat

    path = tmp_path / "future.bak"
    out = fileformat.Writer(path, "")
    out.line({"format": fileformat.FORMAT, "version": fileformat.VERSION, "revision": "9999", "engine": "sqlite"})
    out.line({"done": True, "counts": {}})
    out.close()
    url = new_database(engine.dialect.name)
    target = make_engine(url)
    try:
        with pytest.raises(BackupError, match="unknown to this Yorisoi"):
            restore(target, path, "")
    finally:
        target.dispose()
    assert untouched(url)
