"""The pull reads the ids, times and dates it only sends as text written by the database
(sync/wire.py). That text must be, byte for byte, what the answer's encoder (orjson) writes for the
typed value: the field app and sync/PROTOCOL.md expect canonical ids, ISO 8601 times with `+00:00`
and the fraction only when set, `YYYY-MM-DD` dates. Checked on the engine of the run (both in CI)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.models import Alert, Contact, MilestoneEvent
from sync import serialize, wire
from tests.factories import Factory
from tests.sync_support import Clients

TIMES = [
    dt.datetime(2026, 11, 27, 5, 30, tzinfo=dt.UTC),  # whole second: no fraction
    dt.datetime(2026, 11, 27, 5, 30, 1, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 2, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(2000, 2, 29, 0, 0, 0, 120000, tzinfo=dt.UTC),  # trailing zeros of the fraction kept
    dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))),  # JST in, UTC out
]
NOTES = ['改行\nと "引用" と \\ と\ttab', "", "制御 \x01 \x1f と \x7f と \u2028", "絵文字 😀 ｶﾅ", "</script>&<>'"]



def _contacts(factory: Factory, case: Any, by: Any) -> list[Contact]:
    made = []
    for i, at in enumerate(TIMES):
        made.append(
            factory.contact(
                case, by, occurred_at=at, notes=NOTES[i % len(NOTES)],
                next_action_due=dt.date(2026, 12, i + 1) if i % 2 else None,
                visitor_ids=[] if i == 1 else ([str(by.id)] if i == 2 else None),
                risk_flags=["SELF_HARM"] if i == 3 else [],
            )
        )  # fmt: skip
    # a correction: a new row naming the one it amends
    made.append(factory.contact(case, by, occurred_at=TIMES[1], amends_id=made[0].id, notes="訂正"))
    return made


def test_wire_text_is_what_orjson_writes_for_the_typed_value(
    factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    made = _contacts(factory, case, w)
    t = Contact.__table__
    columns = [t.c.amends_id, t.c.recorded_by, t.c.occurred_at, t.c.received_at, t.c.next_action_due]
    with db_factory() as s:
        rows = s.execute(
            select(*columns, *(wire.text(c) for c in columns)).where(t.c.id.in_([c.id for c in made]))
        ).all()
    assert len(rows) == len(made)
    seen = set()
    for row in rows:
        typed, text = row[: len(columns)], row[len(columns) :]
        for value, as_text in zip(typed, text, strict=True):
            assert (as_text is None) == (value is None)
            assert orjson.dumps(as_text) == orjson.dumps(value)
            seen.add(as_text)
    assert {"2026-11-27T05:30:00+00:00", "2026-11-27T05:30:01.000001+00:00", "2026-01-02T23:59:59.999999+00:00",
            "2000-02-29T00:00:00.120000+00:00", "2026-06-01T00:00:00+00:00", str(made[0].id),
            "2026-12-02"} <= seen  # fmt: skip
    assert None in seen


def test_pulled_entities_are_the_typed_values_byte_for_byte(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    contacts = _contacts(factory, case, w)
    with db_factory() as s, s.begin():
        s.add_all([
            MilestoneEvent(id=uuid.uuid4(), case_id=case.id, milestone="FAMILY_FIRST_CONTACT",
                           reached_on=dt.date(2025, 5, 1), note='本人 "同意"\n', recorded_by=w.id,
                           received_at=TIMES[0]),
            Alert(case_id=case.id, team_id=case.team_id, rule="NO_CONTACT", level="warning", opened_at=TIMES[2]),
            Alert(case_id=case.id, team_id=case.team_id, rule="NO_REACH", level="warning", state="acknowledged",
                  opened_at=TIMES[1], acknowledged_at=TIMES[3], acknowledged_by=w.id, ack_note="確認済み\\",
                  ack_next_date=dt.date(2026, 12, 24)),
        ])  # fmt: skip
    r = clients.phone("w1").pull_raw()
    assert r.status_code == 200
    body = r.content
    with db_factory() as s:
        pulled = {
            "contact": s.scalars(select(Contact).where(Contact.case_id == case.id)).all(),
            "milestone": s.scalars(select(MilestoneEvent).where(MilestoneEvent.case_id == case.id)).all(),
            "alert": s.scalars(select(Alert).where(Alert.case_id == case.id)).all(),
        }
    assert len(pulled["contact"]) == len(contacts) and len(pulled["milestone"]) == 1 and len(pulled["alert"]) == 2
    lists = {"visitor_ids", "risk_flags"}
    for entity, objects in pulled.items():
        for obj in objects:
            typed = {n: list(getattr(obj, n) or []) if n in lists else getattr(obj, n) for n in serialize.READS[entity]}
            # what the answer held before the wire text: the typed values, encoded by orjson
            assert orjson.dumps(typed) in body, entity
    assert "訂正".encode() in body and b"\\u" not in body.replace(b"\\u0001", b"").replace(b"\\u001f", b"")
