"""The audit log is append-only and hash-chained: tampering is detected."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.cli import main
from server.db import make_session_factory
from server.models import AuditEvent
from server.services import audit
from tests.factories import Factory, login


def write_events(db_factory: sessionmaker[Session], n: int) -> None:
    for i in range(n):
        with db_factory() as s, s.begin():
            audit.record(s, None, "test.event", entity="case", entity_id=f"id-{i}", fields=["notes"])


def problems(db_factory: sessionmaker[Session]) -> list[tuple[int, str]]:
    with db_factory() as s:
        return [(b.seq, b.problem) for b in audit.verify(s)]


def test_chain_is_intact_and_gap_free(db_factory: sessionmaker[Session]) -> None:
    write_events(db_factory, 5)
    with db_factory() as s:
        seqs = list(s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert seqs == [1, 2, 3, 4, 5]
    assert problems(db_factory) == []


def test_changed_row_is_detected(db_factory: sessionmaker[Session]) -> None:
    write_events(db_factory, 5)
    with db_factory() as s, s.begin():
        s.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(action="test.innocent"))
    assert (3, "changed") in problems(db_factory)


def test_deleted_row_is_detected(db_factory: sessionmaker[Session]) -> None:
    write_events(db_factory, 5)
    with db_factory() as s, s.begin():
        s.execute(delete(AuditEvent).where(AuditEvent.seq == 2))
    assert (2, "missing") in problems(db_factory)


def test_deleted_tail_is_detected(db_factory: sessionmaker[Session]) -> None:
    write_events(db_factory, 5)
    with db_factory() as s, s.begin():
        s.execute(delete(AuditEvent).where(AuditEvent.seq == 5))
    assert [p for _, p in problems(db_factory)] == ["head_mismatch"]


def test_rolled_back_transaction_writes_no_audit(db_factory: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), db_factory() as s, s.begin():
        audit.record(s, None, "test.event")
        raise RuntimeError("fail")
    write_events(db_factory, 1)
    with db_factory() as s:
        assert list(s.scalars(select(AuditEvent.seq))) == [1]


def test_concurrent_appends_keep_one_chain(engine: Engine, db_factory: sessionmaker[Session]) -> None:
    factory = make_session_factory(engine)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            write_events(factory, 10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db_factory() as s:
        assert list(s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq))) == list(range(1, 41))
    assert problems(db_factory) == []


def test_audit_verify_command(
    monkeypatch: pytest.MonkeyPatch, database_url: str, db_factory: sessionmaker[Session], client: TestClient,
    factory: Factory, capsys: pytest.CaptureFixture[str], tmp_path  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("YORISOI_DATABASE_URL", database_url)
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path))
    factory.user("w1")
    login(client, "w1")  # the app's own audit rows join the chain
    assert main(["audit-verify"]) == 0
    assert "intact" in capsys.readouterr().out
    with db_factory() as s, s.begin():
        s.execute(update(AuditEvent).values(detail="edited"))
    assert main(["audit-verify"]) == 1
    assert "broken" in capsys.readouterr().err


def test_savepoint_rollback_drops_only_its_own_events(db_factory: sessionmaker[Session]) -> None:
    with db_factory() as s, s.begin():
        audit.record(s, None, "test.before")
        with pytest.raises(RuntimeError), s.begin_nested():
            audit.record(s, None, "test.inside_rolled_back")
            raise RuntimeError("reject this mutation")
        with s.begin_nested():
            audit.record(s, None, "test.inside_released")
        audit.record(s, None, "test.after")
    with db_factory() as s:
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions == ["test.before", "test.inside_released", "test.after"]
    assert problems(db_factory) == []
