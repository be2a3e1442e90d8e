"""The push delivery queue: outcomes by status code, retry with backoff, collapsing, the allow-list
at send time, crash recovery, and concurrent flushes (a fake sender; the real one is tested against
a local receiver in test_push_delivery.py)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from server.db import make_session_factory
from server.models import Alert, PushDelivery, PushSubscription, User
from server.push import queue
from server.push.delivery import Result
from tests.alert_support import FakeSender, jst, subscribe
from tests.factories import Factory

T0 = jst(2025, 5, 1, 10, 0)
ORIGINS = ("https://fcm.googleapis.com",)


@pytest.fixture
def coord(factory: Factory, db_factory: sessionmaker[Session]) -> User:
    user = factory.user("coord", role="coordinator")
    case = factory.case()
    with db_factory() as s, s.begin():
        s.add(Alert(case_id=case.id, team_id=case.team_id, rule="S2", level="caution", opened_at=T0))
    return user


def enqueue(db_factory: sessionmaker[Session], user: User, kind: str = "alerts", at: dt.datetime = T0) -> None:
    with db_factory() as s, s.begin():
        queue.enqueue(s, [user.id], kind, at, now=at)


def rows(db_factory: sessionmaker[Session]) -> list[PushDelivery]:
    with db_factory() as s:
        return list(s.scalars(select(PushDelivery).order_by(PushDelivery.created_at)))


def flush(
    db_factory: sessionmaker[Session], sender: FakeSender, at: dt.datetime, origins: tuple[str, ...] = ORIGINS
) -> queue.FlushReport:
    return queue.flush(db_factory, sender, origins, lambda: at)


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscriptions_are_removed(coord: User, db_factory: sessionmaker[Session], status: int) -> None:
    subscribe(db_factory, coord)
    enqueue(db_factory, coord)
    report = flush(db_factory, FakeSender(status), T0)
    assert report.removed == 1
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(PushSubscription)) == 0
        assert s.scalar(select(func.count()).select_from(PushDelivery)) == 0


def test_failures_are_retried_with_backoff_then_given_up(coord: User, db_factory: sessionmaker[Session]) -> None:
    subscribe(db_factory, coord)
    enqueue(db_factory, coord)
    sender = FakeSender(*([503] * queue.MAX_ATTEMPTS))
    t = T0
    waits = []
    for attempt in range(1, queue.MAX_ATTEMPTS + 1):
        report = flush(db_factory, sender, t)
        (row,) = rows(db_factory)
        assert row.attempts == attempt and row.last_status == 503
        if attempt < queue.MAX_ATTEMPTS:
            assert report.retried == 1 and row.state == "pending"
            waits.append(row.not_before - t)
            assert flush(db_factory, sender, row.not_before - dt.timedelta(seconds=1)).total == 0  # not yet
            t = row.not_before
        else:
            assert report.failed == 1 and row.state == "failed"
    assert waits[:4] == [dt.timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert len(sender.sent) == queue.MAX_ATTEMPTS


def test_retry_after_is_honoured_and_success_follows(coord: User, db_factory: sessionmaker[Session]) -> None:
    subscribe(db_factory, coord)
    enqueue(db_factory, coord)

    class Busy(FakeSender):
        def send(self, target: object, message: object) -> Result:
            self.sent.append((target, message))  # type: ignore[arg-type]
            return Result(429, retry_after=600) if len(self.sent) == 1 else Result(201)

    sender = Busy()
    flush(db_factory, sender, T0)
    (row,) = rows(db_factory)
    assert row.not_before == T0 + dt.timedelta(seconds=600)
    assert flush(db_factory, sender, T0 + dt.timedelta(seconds=600)).sent == 1
    (row,) = rows(db_factory)
    assert row.state == "sent" and row.sent_at == T0 + dt.timedelta(seconds=600)
    with db_factory() as s:
        assert s.scalars(select(PushSubscription.last_success_at)).one() == T0 + dt.timedelta(seconds=600)


def test_other_client_errors_fail_without_retry(coord: User, db_factory: sessionmaker[Session]) -> None:
    subscribe(db_factory, coord)
    enqueue(db_factory, coord)
    assert flush(db_factory, FakeSender(400), T0).failed == 1
    assert rows(db_factory)[0].state == "failed"


def test_pending_pushes_of_one_topic_collapse(coord: User, db_factory: sessionmaker[Session]) -> None:
    subscribe(db_factory, coord)
    enqueue(db_factory, coord, at=T0 + dt.timedelta(hours=2))
    enqueue(db_factory, coord, at=T0)  # earlier send time wins
    enqueue(db_factory, coord, kind="urgent")
    alerts_row, urgent_row = sorted(rows(db_factory), key=lambda r: r.topic)
    assert (alerts_row.topic, alerts_row.generation, alerts_row.not_before) == ("alerts", 1, T0)
    assert urgent_row.topic == "urgent" and urgent_row.generation == 0


def test_a_push_that_collapses_in_while_sending_goes_out_again(coord: User, db_factory: sessionmaker[Session]) -> None:
    subscribe(db_factory, coord)
    enqueue(db_factory, coord)

    class Meanwhile(FakeSender):
        def send(self, target: object, message: object) -> Result:
            if not self.sent:
                enqueue(db_factory, coord)  # a new alert arrives while the first push is on its way
            self.sent.append((target, message))  # type: ignore[arg-type]
            return Result(201)

    sender = Meanwhile()
    assert flush(db_factory, sender, T0).sent == 1
    (row,) = rows(db_factory)
    assert row.state == "pending" and row.claimed_until is None and row.generation == 1
    assert flush(db_factory, sender, T0).sent == 1
    assert rows(db_factory)[0].state == "sent" and len(sender.sent) == 2


def test_the_allow_list_is_checked_again_at_send_time(coord: User, db_factory: sessionmaker[Session]) -> None:
    subscribe(db_factory, coord)
    enqueue(db_factory, coord)
    sender = FakeSender()
    report = flush(db_factory, sender, T0, origins=("https://updates.push.services.mozilla.com",))
    assert report.failed == 1 and sender.sent == []
    assert rows(db_factory)[0].last_status == queue.BLOCKED


def test_a_crashed_sender_leaves_rows_that_are_sent_after_the_claim_expires(
    coord: User, db_factory: sessionmaker[Session]
) -> None:
    subscribe(db_factory, coord)
    enqueue(db_factory, coord)
    with db_factory() as s, s.begin():
        assert len(queue._claim(s, T0, 10)) == 1  # claimed, then the process died before sending
    sender = FakeSender()
    assert flush(db_factory, sender, T0 + dt.timedelta(seconds=30)).total == 0
    assert flush(db_factory, sender, T0 + queue.CLAIM + dt.timedelta(seconds=1)).sent == 1


def test_concurrent_flushes_send_each_push_once(
    factory: Factory, coord: User, engine: Engine, db_factory: sessionmaker[Session]
) -> None:
    for _ in range(6):
        subscribe(db_factory, coord)
    enqueue(db_factory, coord)
    shared = make_session_factory(engine)
    sender = FakeSender()
    lock = threading.Lock()

    class Locked(FakeSender):
        def send(self, target: object, message: object) -> Result:
            with lock:
                return sender.send(target, message)  # type: ignore[no-any-return]

    barrier = threading.Barrier(3)

    def worker() -> None:
        barrier.wait()
        queue.flush(shared, Locked(), ORIGINS, lambda: T0)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(sender.sent) == 6
    assert len({t.endpoint for t, _ in sender.sent}) == 6
    assert {r.state for r in rows(db_factory)} == {"sent"}


def test_old_finished_rows_are_pruned(coord: User, db_factory: sessionmaker[Session]) -> None:
    subscribe(db_factory, coord)
    enqueue(db_factory, coord)
    flush(db_factory, FakeSender(), T0)
    with db_factory() as s, s.begin():
        queue.prune(s, T0 + dt.timedelta(days=29))
    assert len(rows(db_factory)) == 1
    with db_factory() as s, s.begin():
        queue.prune(s, T0 + dt.timedelta(days=31))
    assert rows(db_factory) == []


def test_collapsing_survives_prepared_statements(coord: User, db_factory: sessionmaker[Session]) -> None:
    """psycopg prepares a statement after five executions; the upsert must still find its index."""
    subscribe(db_factory, coord)
    with db_factory() as s, s.begin():
        for _ in range(8):
            queue.enqueue(s, [coord.id], "alerts", T0, now=T0)
    (row,) = rows(db_factory)
    assert row.generation == 7
