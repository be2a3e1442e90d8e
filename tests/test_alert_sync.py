"""Alerts that an evaluation opens in bulk (one INSERT for many) are numbered for the phones' pull
like any other change: a phone that was up to date before the evaluation receives them next time."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from tests.alert_support import day_at, live, run
from tests.factories import Factory
from tests.sync_support import Clients

D0 = dt.date(2025, 4, 1)



def test_a_phone_pulls_the_alerts_an_evaluation_raised(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    worker = factory.user("w1")
    cases = [factory.case(workers=(worker,), identified_on=D0, created_at=day_at(D0)) for _ in range(3)]
    phone = clients.phone("w1")
    phone.sync()
    assert phone.ids("alert") == set()

    report = run(db_factory, day_at(D0 + dt.timedelta(days=40)))  # never reached for 40 days: S2 and more
    raised = {str(e.alert_id) for e in report.of("raised") if e.case_id in {c.id for c in cases}}
    assert {e.rule for e in report.of("raised")} >= {"S2"}
    assert raised == {str(a.id) for a in live(db_factory)}
    phone.sync()
    assert phone.ids("alert") == raised


def test_a_phone_sees_a_level_change_and_a_resolution(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    worker = factory.user("w1")
    case = factory.case(workers=(worker,), identified_on=D0, created_at=day_at(D0))
    run(db_factory, day_at(D0 + dt.timedelta(days=30)))
    s2 = next(a for a in live(db_factory) if a.rule == "S2")
    phone = clients.phone("w1")
    phone.sync()
    assert phone.ids("alert") >= {str(s2.id)}

    report = run(db_factory, day_at(D0 + dt.timedelta(days=60)))  # caution → warning
    assert ("level", "S2", "warning") in {(e.kind, e.rule, e.level) for e in report.events}
    phone.sync()
    assert phone.store[("alert", str(s2.id))]["level"] == "warning"

    factory.contact(case, worker, "MET_FAMILY_ONLY", occurred_at=day_at(D0 + dt.timedelta(days=61)))
    report = run(db_factory, day_at(D0 + dt.timedelta(days=62)))
    assert ("resolved", "S2") in {(e.kind, e.rule) for e in report.events}
    phone.sync()
    assert str(s2.id) not in phone.ids("alert")
