"""Helpers for the alert and push tests: Japan-time clocks, timeline builders, evaluation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.alerts import rules
from server.alerts.lifecycle import Report, evaluate
from server.alerts.schedule import PushSchedule
from server.alerts.sqlfuncs import thresholds_by_team, thresholds_cte
from server.i18n.dates import TOKYO
from server.models import Alert, Case, CaseAssignment, CaseReview, Device, MilestoneEvent, User

NO_QUIET = PushSchedule(quiet=None, digest_at=None)


def jst(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> dt.datetime:
    """A moment given in Japan time, as the aware UTC datetime the database stores."""
    return dt.datetime(y, m, d, hh, mm, tzinfo=TOKYO).astimezone(dt.UTC)


def day_at(day: dt.date, hh: int = 10) -> dt.datetime:
    return jst(day.year, day.month, day.day, hh)


class Timeline:
    """Adds the records of a case's history, each in its own committed transaction."""

    def __init__(self, db_factory: sessionmaker[Session]) -> None:
        self.db = db_factory

    def milestone(self, case: Case, by: User, milestone: str, on: dt.date, seconds: int = 0) -> None:
        with self.db() as s, s.begin():
            s.add(
                MilestoneEvent(
                    id=uuid.uuid4(), case_id=case.id, milestone=milestone, reached_on=on, recorded_by=by.id,
                    received_at=day_at(on) + dt.timedelta(seconds=seconds),
                )
            )

    def review(self, case: Case, by: User, at: dt.datetime) -> None:
        with self.db() as s, s.begin():
            s.add(CaseReview(case_id=case.id, author_id=by.id, body="振り返りメモ", created_at=at))

    def device(self, user: User, last_sync_at: dt.datetime | None, outbox_depth: int = 0, **kw: Any) -> Device:
        with self.db() as s, s.begin():
            d = Device(
                id=uuid.uuid4(), user_id=user.id, last_sync_at=last_sync_at, outbox_depth=outbox_depth,
                created_at=kw.pop("created_at", (last_sync_at or dt.datetime(2025, 1, 1, tzinfo=dt.UTC))), **kw,
            )
            s.add(d)
            return d

    def sync(self, device: Device, at: dt.datetime, outbox_depth: int = 0) -> None:
        with self.db() as s, s.begin():
            d = s.get(Device, device.id)
            assert d is not None
            d.last_sync_at, d.outbox_depth = at, outbox_depth

    def unassign_all(self, case: Case, at: dt.datetime) -> None:
        with self.db() as s, s.begin():
            for a in s.scalars(select(CaseAssignment).where(CaseAssignment.case_id == case.id)):
                a.ended_at = at

    def update_case(self, case: Case, **values: Any) -> None:
        with self.db() as s, s.begin():
            c = s.get(Case, case.id)
            assert c is not None
            for k, v in values.items():
                setattr(c, k, v)


def candidates(db_factory: sessionmaker[Session], now: dt.datetime) -> set[tuple[uuid.UUID, str, str]]:
    """(case_id, rule, level) the rules find at `now`, before any sync-lag hold-back."""
    with db_factory() as s:
        th = thresholds_cte(thresholds_by_team(s), now)
        assert th is not None
        return {(c.case_id, c.rule, c.level) for c in rules.case_candidates(s, th)}


def rules_for(db_factory: sessionmaker[Session], case: Case, now: dt.datetime) -> dict[str, str]:
    """rule -> level for one case."""
    return {rule: level for cid, rule, level in candidates(db_factory, now) if cid == case.id}


def run(db_factory: sessionmaker[Session], now: dt.datetime, schedule: PushSchedule = NO_QUIET) -> Report:
    with db_factory() as s, s.begin():
        return evaluate(s, now, schedule)


def live(db_factory: sessionmaker[Session]) -> list[Alert]:
    with db_factory() as s:
        return list(s.scalars(select(Alert).where(Alert.state != "resolved").order_by(Alert.rule)))


def alerts_of(db_factory: sessionmaker[Session], case: Case) -> dict[str, Alert]:
    with db_factory() as s:
        return {a.rule: a for a in s.scalars(select(Alert).where(Alert.case_id == case.id, Alert.state != "resolved"))}


def subscribe(db_factory: sessionmaker[Session], user: User, endpoint: str | None = None) -> uuid.UUID:
    from server.models import PushSubscription

    with db_factory() as s, s.begin():
        sub = PushSubscription(
            user_id=user.id,
            endpoint=endpoint or f"https://fcm.googleapis.com/fcm/send/{uuid.uuid4().hex}",
            p256dh="BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
            auth="tBHItJI5svbpez7KI4CCXg",
        )
        s.add(sub)
        s.flush()
        return sub.id


def deliveries(db_factory: sessionmaker[Session]) -> list[tuple[str, str, str, dt.datetime]]:
    """(username, kind, state, not_before) of every queued push."""
    from server.models import PushDelivery, PushSubscription

    with db_factory() as s:
        rows = s.execute(
            select(User.username, PushDelivery.kind, PushDelivery.state, PushDelivery.not_before)
            .join(PushSubscription, PushSubscription.id == PushDelivery.subscription_id)
            .join(User, User.id == PushSubscription.user_id)
            .order_by(User.username, PushDelivery.kind)
        )
        return [(u, k, st, nb) for u, k, st, nb in rows]


class FakeSender:
    """Records what would be sent; answers with the given statuses in turn (then 201)."""

    def __init__(self, *statuses: int) -> None:
        from server.push.delivery import Message, Target

        self.sent: list[tuple[Target, Message]] = []
        self.statuses = list(statuses)

    def send(self, target: Any, message: Any) -> Any:
        from server.push.delivery import Result

        self.sent.append((target, message))
        return Result(self.statuses.pop(0) if self.statuses else 201)
