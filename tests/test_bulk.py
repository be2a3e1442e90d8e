"""server.bulk: the push's bulk inserts by COPY on PostgreSQL store exactly what an executemany
INSERT stores, and fail the same way. On SQLite both calls are the executemany (a check that the
helper's fallback is the plain insert)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import Table, Text, cast, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from server.alerts.lifecycle import insert_alerts
from server.bulk import insert_rows, unnest_insert
from server.models import Alert, AuditEvent, Contact, Device, SyncMutation
from server.models.sync_stamp import seq_taken
from tests.factories import Factory

COPY = 0  # copy_from: every call by COPY (on PostgreSQL)
MANY = 10**9  # copy_from: never by COPY

TRICKY = ["tab\there", "new\nline\r\n", "back\\slash \\N \\t", "佐藤 花子 ☎", "", "\\", "quote ' \" ,|"]
WHEN = dt.datetime(2025, 5, 1, 10, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def _contacts(case_id: uuid.UUID, user_id: uuid.UUID, device_id: uuid.UUID) -> list[list[dict[str, Any]]]:
    full = [
        {
            "id": uuid.uuid4(), "case_id": case_id, "amends_id": None, "occurred_at": WHEN + dt.timedelta(minutes=n),
            "method": "HOME_VISIT", "counterpart": "NONE", "outcome": "NO_ANSWER", "reached": "none",
            "reception": None if n % 2 else "warm", "duration_min": None if n % 3 else n,
            "visitor_ids": [str(uuid.UUID(int=n)), text] if n % 2 else [], "risk_flags": [text, "a\tb"],
            "notes": text, "next_action": text[::-1], "next_action_due": dt.date(2025, 6, n + 1) if n % 2 else None,
            "sharing_basis": "INTERNAL_ONLY", "recorded_by": user_id, "device_id": device_id,
            "client_time": None if n % 2 else WHEN, "received_at": WHEN.astimezone(dt.UTC), "sync_seq": n,
        }
        for n, text in enumerate(TRICKY)
    ]  # fmt: skip
    # The push's shape: Python-side defaults (scalar and callable) left to SQLAlchemy.
    defaulted = [
        {k: v for k, v in row.items() if k not in {"visitor_ids", "notes", "sharing_basis", "sync_seq", "received_at"}}
        | {"id": uuid.uuid4()}
        for row in full
    ]
    return [full, defaulted]


def _mutations(device_id: uuid.UUID, first: int) -> list[list[dict[str, Any]]]:
    base = {"device_id": device_id, "name": "contact.create", "client_time": WHEN}
    applied = [
        base
        | {
            "mid": first + n,
            "status": "applied",
            "error_code": None,
            "case_id": uuid.UUID(int=n + 1),
            "received_at": WHEN,
        }
        for n in range(3)
    ]
    rejected = [  # `args` given: a JSON object, JSON null (None given) and text needing escapes
        base | {"mid": first + 10 + n, "status": "rejected", "error_code": "bad\tcode", "case_id": None,
                "args": args, "received_at": WHEN}
        for n, args in enumerate([{"notes": TRICKY, "n": 1.5, "ok": True}, None, {"\\": "\n"}])
    ]  # fmt: skip
    left_out = [  # received_at (a callable default) left out
        base | {"mid": first + 20 + n, "status": "applied", "error_code": None, "case_id": None} for n in range(2)
    ]
    return [applied, rejected, left_out]


def _audits(user_id: uuid.UUID, device_id: uuid.UUID, case_id: uuid.UUID, first: int) -> list[list[dict[str, Any]]]:
    rows = [
        {
            "seq": first + n, "actor_id": user_id, "actor_role": "worker", "device_id": device_id if n % 2 else None,
            "action": "contact.create", "entity": "contact", "entity_id": f"{n}:{text}"[:64], "case_id": case_id,
            "fields": ["notes", text], "outcome": "ok", "detail": text, "prev_hash": "0" * 64, "hash": f"{n:064d}",
        }
        for n, text in enumerate(TRICKY)
    ]  # fmt: skip
    explicit = [row | {"seq": row["seq"] + 100, "at": WHEN} for row in rows]
    return [rows, explicit]  # `at` (callable) left out in the first, `fields`/`outcome` given


def _stored(session: Session, table: Table, keys: list[str], where: Any) -> list[dict[str, Any]]:
    """Every column but the keys, as Python values and as the database's text (JSON null vs SQL NULL)."""
    cols = [c for c in table.columns if c.name not in keys]
    got = session.execute(
        select(*cols, *[cast(c, Text).label(f"{c.name}__text") for c in cols]).where(where).order_by(*table.primary_key)
    )
    return [dict(r._mapping) for r in got]


def test_copy_stores_what_executemany_stores(
    factory: Factory, db_factory: sessionmaker[Session], test_engine: Any
) -> None:
    user = factory.user("w1")
    case = factory.case(workers=(user,))
    device_copy, device_many = uuid.uuid4(), uuid.uuid4()
    with db_factory() as s, s.begin():
        s.add_all([Device(id=device_copy, user_id=user.id), Device(id=device_many, user_id=user.id)])
    seen: list[str] = []

    def write(device: uuid.UUID, copy_from: int, first_seq: int) -> None:
        """The three tables' rows for `device`, by COPY or by executemany (`copy_from`)."""
        with db_factory() as s, s.begin():
            for shape in _contacts(case.id, user.id, device):
                insert_rows(s, Contact.__table__, shape, copy_from=copy_from)  # type: ignore[arg-type]
            for shape in _mutations(device, 1):
                insert_rows(s, SyncMutation.__table__, shape, copy_from=copy_from)  # type: ignore[arg-type]
            for shape in _audits(user.id, device, case.id, first_seq):
                insert_rows(s, AuditEvent.__table__, shape, copy_from=copy_from)  # type: ignore[arg-type]

    def note(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        seen.append(statement)

    event.listen(test_engine, "before_cursor_execute", note)
    try:
        write(device_copy, COPY, 1)
        copies = [x for x in seen if x.startswith("COPY")]
        seen.clear()
        write(device_many, MANY, 1001)
    finally:
        event.remove(test_engine, "before_cursor_execute", note)
    assert not [x for x in seen if x.startswith("COPY")]
    if test_engine.dialect.name == "postgresql":
        # The COPY is visible to statement listeners (tests/sync_support.py `Statements`).
        assert [x.split(" (")[0] for x in copies] == ["COPY contact"] * 2 + ["COPY sync_mutation"] * 3 + [
            "COPY audit_log"
        ] * 2
    else:
        assert copies == []

    now = dt.datetime.now(dt.UTC)
    with db_factory() as s:
        contact, mutation, audit = Contact.__table__, SyncMutation.__table__, AuditEvent.__table__
        # Every column but the keys; the defaulted received_at only as "just now" (below).
        copied = _stored(s, contact, ["id", "device_id", "received_at"], contact.c.device_id == device_copy)  # type: ignore[attr-defined]
        many = _stored(s, contact, ["id", "device_id", "received_at"], contact.c.device_id == device_many)  # type: ignore[attr-defined]
        assert sorted(copied, key=repr) == sorted(many, key=repr) and len(copied) == 2 * len(TRICKY)
        assert sorted(r["notes"] for r in copied) == sorted(TRICKY + [""] * len(TRICKY))
        assert [r["visitor_ids"] for r in copied].count([]) >= len(TRICKY)
        got = s.scalars(select(contact.c.received_at)).all()  # type: ignore[attr-defined]
        assert all(t == WHEN or now - t < dt.timedelta(minutes=5) for t in got)

        def fixed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{k: v for k, v in r.items() if not k.startswith(("received_at", "at"))} for r in rows]

        m_copy = _stored(s, mutation, ["device_id"], mutation.c.device_id == device_copy)  # type: ignore[attr-defined]
        m_many = _stored(s, mutation, ["device_id"], mutation.c.device_id == device_many)  # type: ignore[attr-defined]
        assert fixed(m_copy) == fixed(m_many) and len(m_copy) == 8
        assert [r["args__text"] is None for r in m_copy] == [True] * 3 + [False] * 3 + [True] * 2
        assert m_copy[4]["args__text"] == "null"  # JSON null, as the executemany stores a given None
        assert m_copy[3]["args"] == {"notes": TRICKY, "n": 1.5, "ok": True}
        assert all(r["received_at"] == WHEN or now - r["received_at"] < dt.timedelta(minutes=5) for r in m_copy)
        a_copy = _stored(s, audit, ["seq"], audit.c.seq < 1000)  # type: ignore[attr-defined]
        a_many = _stored(s, audit, ["seq"], audit.c.seq > 1000)  # type: ignore[attr-defined]

        def same(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{k: v for k, v in r.items() if k != "device_id" and k != "device_id__text"} for r in fixed(rows)]

        assert same(a_copy) == same(a_many) and len(a_copy) == 2 * len(TRICKY)
        assert [r["device_id"] for r in a_copy] == [device_copy if n % 2 else None for n in range(len(TRICKY))] * 2
        assert [r["detail"] for r in a_copy] == TRICKY * 2
        assert all(r["at"] == WHEN for r in a_copy[len(TRICKY) :])
        assert all(now - r["at"] < dt.timedelta(minutes=5) for r in a_copy[: len(TRICKY)])


@pytest.mark.parametrize("copy_from", [COPY, MANY])
def test_a_taken_key_raises_sqlalchemys_integrity_error(
    factory: Factory, db_factory: sessionmaker[Session], copy_from: int
) -> None:
    user = factory.user("w1")
    case = factory.case(workers=(user,))
    device = uuid.uuid4()
    with db_factory() as s, s.begin():
        s.add(Device(id=device, user_id=user.id))
    rows = _contacts(case.id, user.id, device)[0]
    with db_factory() as s, s.begin():
        insert_rows(s, Contact.__table__, rows, copy_from=copy_from)  # type: ignore[arg-type]
        with pytest.raises(IntegrityError), s.begin_nested():
            insert_rows(s, Contact.__table__, [*rows[1:], rows[0]], copy_from=copy_from)  # type: ignore[arg-type]
        # The savepoint rolled back; the transaction goes on.
        assert len(s.scalars(select(Contact.id)).all()) == len(rows)
    with db_factory() as s:
        assert len(s.scalars(select(Contact.id)).all()) == len(rows)


def test_insert_alerts_stores_what_executemany_stores(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    """lifecycle.insert_alerts — one `INSERT … SELECT FROM unnest(arrays)` on PostgreSQL
    (bulk.unnest_insert), 1,000-row VALUES on SQLite — stores what an executemany INSERT stores."""
    user = factory.user("w1")
    cases = [factory.case(workers=(user,)) for _ in TRICKY]
    table: Table = Alert.__table__  # type: ignore[assignment]

    def rows(rule: str) -> list[dict[str, Any]]:
        return [
            {"case_id": case.id if n else None, "subject_user_id": None if n else user.id,
             "team_id": case.team_id, "rule": rule, "level": text[:20], "escalated": bool(n % 2)}
            for n, (case, text) in enumerate(zip(cases, TRICKY, strict=True))
        ]  # fmt: skip

    with db_factory() as s, s.begin():
        events = insert_alerts(s, rows("S2"), WHEN, number_now=True)
        seq = seq_taken(s)
        assert seq is not None  # inserted already numbered
        plain = [
            {k: v for k, v in r.items() if k != "escalated"}
            | {"id": uuid.uuid4(), "opened_at": WHEN, "sync_seq": seq, "escalated_at": WHEN if r["escalated"] else None}
            for r in rows("S1")
        ]  # fmt: skip
        s.execute(table.insert(), plain)
    with db_factory() as s:
        many = _stored(s, table, ["id", "rule"], table.c.rule == "S1")
        inserted = _stored(s, table, ["id", "rule"], table.c.rule == "S2")
        ids = s.scalars(select(table.c.id).where(table.c.rule == "S2")).all()
    assert sorted(e.alert_id for e in events) == sorted(ids) and len(ids) == len(TRICKY)
    assert [(e.level, e.escalated) for e in events] == [(r["level"], r["escalated"]) for r in rows("S2")]
    assert sorted(inserted, key=repr) == sorted(many, key=repr)
    assert [r["state"] for r in inserted] == ["open"] * len(TRICKY)  # the scalar defaults left out
    assert {r["ack_note"] for r in inserted} == {""} and {r["opened_at"] for r in inserted} == {WHEN}
    with pytest.raises(ValueError, match=r"alert\.id has a per-row default"):
        unnest_insert(table, ["case_id", "team_id", "rule", "level"])


def test_alerts_inserted_unnumbered_are_numbered_at_commit_and_raised_once(
    factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    """Without `number_now` the new alerts are numbered for the phones' pull when the transaction
    commits; a row whose case already has a live alert of its rule (here: an earlier row of the same
    call) is skipped and raises no event."""
    user = factory.user("w1")
    cases = [factory.case(workers=(user,)) for _ in range(3)]
    rows = [{"case_id": c.id, "team_id": c.team_id, "rule": "S2", "level": "caution"} for c in cases]
    with db_factory() as s, s.begin():
        events = insert_alerts(s, [*rows, {**rows[0], "level": "warning"}], WHEN)
        assert seq_taken(s) is None  # not numbered yet
    with db_factory() as s:
        stored = s.execute(select(Alert.id, Alert.case_id, Alert.level, Alert.sync_seq)).all()
    assert sorted((e.alert_id, e.case_id, e.level) for e in events) == sorted((i, c, lv) for i, c, lv, _ in stored)
    assert len(stored) == 3 and {lv for *_, lv, _ in stored} == {"caution"}
    assert len({seq for *_, seq in stored}) == 1 and stored[0].sync_seq > 0
