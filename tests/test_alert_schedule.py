"""Quiet hours (Japan time), the daily digest, and urgent pushes that ignore both — under a
controlled clock, from the alert being raised to the push being sent."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy.orm import Session, sessionmaker

from server.alerts.schedule import PushSchedule, QuietHours, next_daily
from server.models import User
from server.push import queue
from server.services import alerts as alert_service
from tests.alert_support import FakeSender, deliveries, jst, run, subscribe
from tests.factories import Factory

QUIET = PushSchedule.from_settings("20:00-08:00", "")
ORIGINS = ("https://fcm.googleapis.com",)


def test_quiet_hours_parse_and_span_midnight() -> None:
    q = QuietHours.parse("20:00-08:00")
    assert q is not None
    assert q.contains(jst(2025, 5, 1, 20, 0)) and q.contains(jst(2025, 5, 2, 7, 59))
    assert q.contains(jst(2025, 5, 1, 23, 0))
    assert not q.contains(jst(2025, 5, 1, 19, 59)) and not q.contains(jst(2025, 5, 2, 8, 0))
    assert q.end_after(jst(2025, 5, 1, 21, 0)) == jst(2025, 5, 2, 8, 0)
    assert q.end_after(jst(2025, 5, 2, 6, 0)) == jst(2025, 5, 2, 8, 0)
    assert q.end_after(jst(2025, 5, 2, 9, 0)) == jst(2025, 5, 2, 9, 0)
    day = QuietHours.parse("12:00-13:00")
    assert day is not None and day.contains(jst(2025, 5, 1, 12, 30)) and not day.contains(jst(2025, 5, 1, 13, 0))
    assert QuietHours.parse("") is None and QuietHours.parse("  ") is None


@pytest.mark.parametrize("bad", ["20:00", "8-20", "24:00-08:00", "20:00-08:60", "night"])
def test_malformed_quiet_hours_name_the_setting(bad: str) -> None:
    with pytest.raises(ValueError, match="YORISOI_QUIET_HOURS"):
        QuietHours.parse(bad)


def test_next_digest_time() -> None:
    at = dt.time(7, 30)
    assert next_daily(jst(2025, 5, 1, 7, 0), at) == jst(2025, 5, 1, 7, 30)
    assert next_daily(jst(2025, 5, 1, 7, 30), at) == jst(2025, 5, 1, 7, 30)
    assert next_daily(jst(2025, 5, 1, 7, 31), at) == jst(2025, 5, 2, 7, 30)
    with pytest.raises(ValueError, match="YORISOI_PUSH_DIGEST_AT"):
        PushSchedule.from_settings("", "7.30")


@pytest.fixture
def coord(factory: Factory, db_factory: sessionmaker[Session]) -> User:
    user = factory.user("coord", role="coordinator")
    subscribe(db_factory, user)
    sup = factory.user("super", role="supervisor")
    subscribe(db_factory, sup)
    return user


def stalled(factory: Factory, worker: User, name: str = "山田") -> None:
    case = factory.case(
        workers=(worker,), identified_on=dt.date(2025, 1, 1), created_at=jst(2025, 4, 1), family_name=name
    )
    factory.contact(case, worker, "PHONE_FAMILY", occurred_at=jst(2025, 4, 1))


def flush_at(db_factory: sessionmaker[Session], sender: FakeSender, when: dt.datetime) -> queue.FlushReport:
    return queue.flush(db_factory, sender, ORIGINS, lambda: when)


def test_non_urgent_pushes_wait_for_the_end_of_quiet_hours(
    factory: Factory, coord: User, db_factory: sessionmaker[Session]
) -> None:
    worker = factory.user("w")
    stalled(factory, worker)
    run(db_factory, jst(2025, 5, 1, 21, 0), QUIET)  # day 30, in the evening
    assert [(u, k, nb) for u, k, _, nb in deliveries(db_factory)] == [("coord", "alerts", jst(2025, 5, 2, 8, 0))]
    sender = FakeSender()
    assert flush_at(db_factory, sender, jst(2025, 5, 1, 21, 1)).total == 0
    assert flush_at(db_factory, sender, jst(2025, 5, 2, 7, 59)).total == 0
    assert flush_at(db_factory, sender, jst(2025, 5, 2, 8, 0)).sent == 1
    ((_target, message),) = sender.sent
    body = json.loads(message.payload)
    assert body["kind"] == "alerts" and body["count"] == 1 and body["url"].startswith("/alerts/")
    assert message.urgency == "normal" and message.topic == "alerts" and message.ttl > 0


def test_urgent_pushes_ignore_quiet_hours(factory: Factory, coord: User, db_factory: sessionmaker[Session]) -> None:
    worker = factory.user("w")
    case = factory.case(workers=(worker,))
    contact = factory.contact(case, worker, "EMERGENCY_RESPONSE", occurred_at=jst(2025, 5, 1, 22, 40))
    with db_factory() as s, s.begin():
        alert = alert_service.raise_urgent(s, case, contact, now=jst(2025, 5, 1, 22, 45))
        assert alert is not None and alert.escalated_at is not None
    sender = FakeSender()
    report = flush_at(db_factory, sender, jst(2025, 5, 1, 22, 45))
    assert report.sent == 2  # the coordinator and the supervisor, at once
    for _, message in sender.sent:
        body = json.loads(message.payload)
        assert (body["kind"], body["count"], message.urgency, message.topic) == ("urgent", 1, "high", "urgent")
        assert body["body"] == "緊急の確認が必要なケースがあります（1件）"


def test_a_daily_digest_collects_the_day_into_one_push(
    factory: Factory, coord: User, db_factory: sessionmaker[Session]
) -> None:
    digest = PushSchedule.from_settings("20:00-08:00", "07:30")
    worker = factory.user("w")
    stalled(factory, worker, "一")
    run(db_factory, jst(2025, 5, 1, 10, 0), digest)
    stalled(factory, worker, "二")
    factory.case(
        workers=(worker,), identified_on=dt.date(2025, 4, 1), created_at=jst(2025, 4, 1),
        plan_review_due=dt.date(2025, 4, 1), family_name="三",
    )
    run(db_factory, jst(2025, 5, 1, 15, 0), digest)
    queued = deliveries(db_factory)
    assert [(u, k, st, nb) for u, k, st, nb in queued] == [
        ("coord", "alerts", "pending", jst(2025, 5, 2, 7, 30)),
        ("super", "alerts", "pending", jst(2025, 5, 2, 7, 30)),
    ]
    sender = FakeSender()
    assert flush_at(db_factory, sender, jst(2025, 5, 2, 7, 29)).total == 0
    assert flush_at(db_factory, sender, jst(2025, 5, 2, 7, 30)).sent == 2
    counts = sorted(json.loads(m.payload)["count"] for _, m in sender.sent)
    assert counts[-1] >= 3  # the coordinator's one push counts every open alert of the team


def test_nothing_is_sent_when_everything_was_acknowledged_meanwhile(
    factory: Factory, coord: User, db_factory: sessionmaker[Session]
) -> None:
    from sqlalchemy import select

    from server.models import Alert
    from tests.test_alert_lifecycle import actor_of

    worker = factory.user("w")
    stalled(factory, worker)
    run(db_factory, jst(2025, 5, 1, 21, 0), QUIET)
    with db_factory() as s, s.begin():
        alert = s.scalars(select(Alert)).one()
        alert_service.acknowledge(s, actor_of(s, coord), alert.id, "確認済み", "2025-05-10", now=jst(2025, 5, 1, 22, 0))
    sender = FakeSender()
    report = flush_at(db_factory, sender, jst(2025, 5, 2, 8, 0))
    assert report.skipped == 1 and sender.sent == []
