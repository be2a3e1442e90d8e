"""The evaluation writes its decisions with one UPDATE per kind of change, without locking every live
alert first: each UPDATE re-states the condition it was decided on, so an acknowledgement committed
between the evaluation's read and its write stands, and no event is reported for it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from server.alerts import reconcile
from server.services import alerts as alert_service
from server.services.auth import actor_for
from tests.alert_support import alerts_of, day_at, run
from tests.conftest import PG_URL
from tests.factories import Factory

D0 = dt.date(2025, 4, 1)


def at(n: int) -> dt.datetime:
    return day_at(D0 + dt.timedelta(days=n))


@pytest.mark.skipif(not PG_URL, reason="SQLite runs one writer at a time: nothing can commit in between")
def test_an_acknowledgement_committed_meanwhile_is_not_overwritten(
    factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    coord = factory.user("coord", role="coordinator")
    worker = factory.user("w1")
    case = factory.case(workers=(worker,), identified_on=D0, created_at=at(0))
    run(db_factory, at(30))
    s2 = alerts_of(db_factory, case)["S2"]

    def acknowledge(next_date: dt.date, now: dt.datetime) -> None:
        with db_factory() as s, s.begin():
            alert_service.acknowledge(s, actor_for(s, coord), s2.id, "訪問を調整中", next_date, now=now)

    acknowledge(D0 + dt.timedelta(days=35), at(31))
    with db_factory() as s, s.begin():
        alert = next(a for a in reconcile.read_live(s) if a.id == s2.id)
        changes = reconcile.Changes()
        changes.reopened(alert, at(40), due=True)  # decided on the acknowledgement read: its date has passed
        changes.escalated(alert, at(40))
        acknowledge(D0 + dt.timedelta(days=50), at(39))  # …but the coordinator has just looked again
        assert reconcile.apply(s, changes, at(40), D0 + dt.timedelta(days=40)) == []
    after = alerts_of(db_factory, case)["S2"]
    assert (after.state, after.ack_next_date, after.escalated_at) == ("acknowledged", D0 + dt.timedelta(days=50), None)


def test_the_writes_that_take_effect_report_their_events(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    worker = factory.user("w1")
    factory.user("coord", role="coordinator")
    case = factory.case(workers=(worker,), identified_on=D0, created_at=at(0))
    run(db_factory, at(30))
    s2 = alerts_of(db_factory, case)["S2"]
    with db_factory() as s, s.begin():
        alert = next(a for a in reconcile.read_live(s) if a.id == s2.id)
        changes = reconcile.Changes()
        changes.leveled(alert, "warning")
        changes.escalated(alert, at(60))
        events = reconcile.apply(s, changes, at(60), D0 + dt.timedelta(days=60))
    got = [(e.kind, e.level, e.escalated) for e in events]
    assert got == [("level", "warning", False), ("escalated", "warning", True)]
    after = alerts_of(db_factory, case)["S2"]
    assert (after.level, after.escalated_at) == ("warning", at(60))
