"""The periodic runner: one evaluation per interval across several server processes (the lease),
take-over when the holder dies, push flushing, and surviving a bad round."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.alerts.runner import AlertRunner, start_background
from server.app import create_app
from server.models import JobLease
from server.push import queue, vapid
from server.settings import Settings
from tests.alert_support import FakeSender, jst, subscribe
from tests.factories import Factory

T0 = jst(2025, 5, 1, 10)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


@pytest.fixture
def stalled(factory: Factory) -> None:
    worker = factory.user("w1")
    case = factory.case(workers=(worker,), identified_on=dt.date(2025, 1, 1), created_at=jst(2025, 4, 1))
    factory.contact(case, worker, "PHONE_FAMILY", occurred_at=jst(2025, 4, 1))


def runner(
    db_factory: sessionmaker[Session], settings: Settings, clock: Clock, sender: FakeSender | None = None
) -> AlertRunner:
    quiet = dataclasses.replace(settings, quiet_hours="", alert_interval_minutes=15)
    return AlertRunner(db_factory, quiet, sender=sender or FakeSender(), now=clock, poll_seconds=0.05)


def test_one_process_evaluates_per_interval_and_another_takes_over_when_it_dies(
    db_factory: sessionmaker[Session], settings: Settings, stalled: None
) -> None:
    clock = Clock(T0)
    a, b = runner(db_factory, settings, clock), runner(db_factory, settings, clock)
    report = a.evaluate_if_leased()
    assert report is not None and [e.rule for e in report.of("raised")] == ["S2"]
    assert b.evaluate_if_leased() is None  # several processes, one evaluation
    clock.advance(minutes=15)
    assert a.evaluate_if_leased() is not None  # the holder renews
    assert b.evaluate_if_leased() is None
    clock.advance(minutes=29)  # the holder has died: its lease (two intervals) has not run out yet
    assert b.evaluate_if_leased() is None
    clock.advance(minutes=2)
    assert b.evaluate_if_leased() is not None
    with db_factory() as s:
        lease = s.scalars(select(JobLease).where(JobLease.name == "alerts.periodic")).one()
        assert lease.holder == b.holder and lease.last_run_at == clock.now


def test_the_first_evaluation_waits_one_interval_but_pushes_go_at_once(
    factory: Factory, db_factory: sessionmaker[Session], settings: Settings, stalled: None
) -> None:
    coord = factory.user("coord", role="coordinator")
    subscribe(db_factory, coord)
    clock = Clock(T0)
    sender = FakeSender()
    r = runner(db_factory, settings, clock, sender)
    r.step()
    with db_factory() as s:
        assert s.scalar(select(JobLease.name)) is None  # no evaluation yet
    clock.advance(minutes=15)
    r.step()  # evaluates, queues the coordinator's push and sends it in the same round
    assert len(sender.sent) == 1


def test_a_bad_round_is_logged_by_type_and_the_next_one_runs(
    db_factory: sessionmaker[Session], settings: Settings, stalled: None, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from server.alerts import runner as runner_module

    def broken(*args: object, **kw: object) -> object:
        raise RuntimeError("secret detail that must not be logged")

    clock = Clock(T0)
    r = runner(db_factory, settings, clock)
    clock.advance(minutes=15)
    with monkeypatch.context() as m, caplog.at_level(logging.ERROR, logger="yorisoi.alerts"):
        m.setattr(runner_module, "evaluate", broken)
        r.step()
    assert "alert runner round failed (RuntimeError)" in caplog.text and "secret" not in caplog.text
    clock.advance(minutes=15)
    assert r.evaluate_if_leased() is not None  # the lease is ours; the next round evaluates


def test_a_failing_sender_counts_as_an_attempt(
    factory: Factory, db_factory: sessionmaker[Session], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    coord = factory.user("coord", role="coordinator")
    subscribe(db_factory, coord)
    case = factory.case()
    from server.models import Alert, PushDelivery

    with db_factory() as s, s.begin():
        s.add(Alert(case_id=case.id, team_id=case.team_id, rule="S6", level="warning", opened_at=T0))
        queue.enqueue(s, [coord.id], "alerts", T0, now=T0)

    class Broken(FakeSender):
        def send(self, target: object, message: object) -> object:
            raise RuntimeError("secret detail that must not be logged")

    report = queue.flush(db_factory, Broken(), ("https://fcm.googleapis.com",), lambda: T0)
    assert report.retried == 1 and "push sender failed (RuntimeError)" in caplog.text and "secret" not in caplog.text
    with db_factory() as s:
        row = s.scalars(select(PushDelivery)).one()
        assert row.attempts == 1 and row.claimed_until is None and row.not_before > T0


def test_the_background_thread_sends_due_pushes(
    factory: Factory, db_factory: sessionmaker[Session], settings: Settings
) -> None:
    coord = factory.user("coord", role="coordinator")
    subscribe(db_factory, coord)
    case = factory.case()
    from server.models import Alert

    with db_factory() as s, s.begin():
        s.add(Alert(case_id=case.id, team_id=case.team_id, rule="R", level="urgent", opened_at=T0))
        queue.enqueue(s, [coord.id], "urgent", T0, now=T0)
    sender = FakeSender()
    r = runner(db_factory, settings, Clock(T0), sender)
    r.start()
    try:
        deadline = time.monotonic() + 10
        while not sender.sent and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        r.stop()
    assert len(sender.sent) == 1
    assert r._thread is not None and not r._thread.is_alive()


def test_the_app_starts_and_stops_the_runner(settings: Settings, db_factory: sessionmaker[Session]) -> None:
    vapid._cache.clear()
    with TestClient(create_app(settings)):
        assert any(t.name == "yorisoi-alerts" for t in threading.enumerate())
        assert (settings.data_dir / vapid.KEY_FILE).exists()  # VAPID keys exist from the first start
    assert not any(t.name == "yorisoi-alerts" and t.is_alive() for t in threading.enumerate())


def test_the_runner_can_be_switched_off(settings: Settings, db_factory: sessionmaker[Session]) -> None:
    vapid._cache.clear()
    off = dataclasses.replace(settings, alert_interval_minutes=0)
    assert start_background(db_factory, off) is None
    assert (off.data_dir / vapid.KEY_FILE).exists()
