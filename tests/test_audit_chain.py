"""The audit log is append-only and hash-chained: tampering is detected."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
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


_TEXT = st.text(st.characters(exclude_categories=["Cs"]))  # any text a row can hold (no lone surrogates)


@given(
    seq=st.integers(1, 2**63 - 1),
    at=st.datetimes(timezones=st.timezones()),
    ids=st.lists(st.one_of(st.none(), st.uuids()), min_size=3, max_size=3),
    texts=st.lists(st.one_of(st.none(), _TEXT), min_size=6, max_size=6),
    fields=st.one_of(st.none(), st.lists(_TEXT, max_size=5)),
)
def test_the_hashed_bytes_are_those_the_first_rows_were_hashed_from(
    seq: int, at: dt.datetime, ids: list[uuid.UUID | None], texts: list[str | None], fields: list[str] | None
) -> None:
    """The chain's canonical form must never change, or every stored row would fail verification:
    orjson writes exactly what `json.dumps(sort_keys, ensure_ascii=False, compact)` wrote."""
    actor_id, device_id, case_id = ids
    role, action, entity, entity_id, outcome, detail = texts
    row = {"seq": seq, "at": at, "actor_id": actor_id, "actor_role": role, "device_id": device_id,
           "action": action, "entity": entity, "entity_id": entity_id, "case_id": case_id, "fields": fields,
           "outcome": outcome, "detail": detail}  # fmt: skip
    content = {
        "seq": seq, "at": at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_id": str(actor_id) if actor_id else None, "actor_role": role,
        "device_id": str(device_id) if device_id else None, "action": action, "entity": entity,
        "entity_id": entity_id, "case_id": str(case_id) if case_id else None, "fields": list(fields or []),
        "outcome": outcome, "detail": detail,
    }  # fmt: skip
    reference = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    assert audit._canonical(row) == reference
