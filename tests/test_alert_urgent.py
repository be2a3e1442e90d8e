"""Rule R: sudden risks raise an urgent alert when the contact reporting them is applied, go to the
supervisors at once (ignoring quiet hours), and resolve only once acknowledged and cleared."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from server.db import make_session_factory
from server.models import Alert, CareRelation, Case, Contact, Person, User
from server.services import alerts as alert_service
from server.services.auth import actor_for
from tests.alert_support import alerts_of, deliveries, jst, run, subscribe
from tests.factories import Factory

T0 = jst(2025, 5, 1, 22, 30)


@pytest.fixture
def people(factory: Factory, db_factory: sessionmaker[Session]) -> dict[str, User]:
    users = {"coord": factory.user("coord", role="coordinator"), "super": factory.user("super", role="supervisor"),
             "worker": factory.user("w1")}
    for u in users.values():
        subscribe(db_factory, u)
    return users


def report(db_factory: sessionmaker[Session], factory: Factory, case: Case, by: User, outcome: str,
           at: dt.datetime = T0, **kw: object) -> Alert | None:
    contact = factory.contact(case, by, outcome, occurred_at=at, **kw)
    with db_factory() as s, s.begin():
        c = s.get_one(Case, case.id)
        k = s.get_one(Contact, contact.id)
        return alert_service.raise_urgent(s, c, k, now=at)


def care(db_factory: sessionmaker[Session], case: Case, *, person_is_carer: bool) -> None:
    with db_factory() as s, s.begin():
        other = Person(family_name="家族")
        s.add(other)
        s.flush()
        carer, cared = (case.person_id, other.id) if person_is_carer else (other.id, case.person_id)
        s.add(CareRelation(carer_id=carer, cared_id=cared, kind="介護"))


@pytest.mark.parametrize("outcome", ["EMERGENCY_RESPONSE", "DECEASED"])
def test_urgent_outcomes_go_to_the_supervisor_at_once(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session], outcome: str
) -> None:
    case = factory.case(workers=(people["worker"],))
    alert = report(db_factory, factory, case, people["worker"], outcome)
    assert alert is not None and (alert.rule, alert.level, alert.escalated_at) == ("R", "urgent", T0)
    assert sorted((u, k, nb) for u, k, _, nb in deliveries(db_factory)) == [
        ("coord", "urgent", T0), ("super", "urgent", T0),  # 22:30 is in quiet hours: urgent ignores them
    ]


def test_ordinary_outcomes_raise_nothing(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session]
) -> None:
    case = factory.case(workers=(people["worker"],))
    assert report(db_factory, factory, case, people["worker"], "NO_ANSWER") is None
    assert report(db_factory, factory, case, people["worker"], "IN_HOSPITAL_OR_FACILITY") is None  # no care relation
    assert report(db_factory, factory, case, people["worker"], "ABORTED_SAFETY", risk_flags=["dog"]) is None
    assert alerts_of(db_factory, case) == {}


def test_a_carer_in_hospital_is_a_sudden_risk(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session]
) -> None:
    young_carer = factory.case(workers=(people["worker"],), family_name="介護者")
    care(db_factory, young_carer, person_is_carer=True)
    assert report(db_factory, factory, young_carer, people["worker"], "IN_HOSPITAL_OR_FACILITY") is not None
    # 8050: the parent who cares for the person is reported in hospital by the family.
    cared_for = factory.case(workers=(people["worker"],), family_name="被介護者")
    care(db_factory, cared_for, person_is_carer=False)
    assert report(db_factory, factory, cared_for, people["worker"], "IN_HOSPITAL_OR_FACILITY", counterpart="FAMILY")


def test_a_visit_aborted_for_violence_is_a_sudden_risk(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session]
) -> None:
    case = factory.case(workers=(people["worker"],))
    assert report(db_factory, factory, case, people["worker"], "ABORTED_SAFETY", risk_flags=["violence_history"])


def test_one_live_urgent_alert_per_case_and_reopening(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session]
) -> None:
    case = factory.case(workers=(people["worker"],))
    first = report(db_factory, factory, case, people["worker"], "EMERGENCY_RESPONSE")
    again = report(db_factory, factory, case, people["worker"], "EMERGENCY_RESPONSE", at=T0 + dt.timedelta(hours=1))
    assert first is not None and again is not None and again.id == first.id
    with db_factory() as s, s.begin():
        alert_service.acknowledge(s, actor_for(s, people["super"]), first.id, "支援会議を招集", "2025-05-08", now=T0)
    later = T0 + dt.timedelta(days=1)
    reopened = report(db_factory, factory, case, people["worker"], "DECEASED", at=later)
    assert reopened is not None and reopened.id == first.id and reopened.state == "open" and reopened.opened_at == later


def test_urgent_alerts_resolve_only_when_acknowledged_and_cleared(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session]
) -> None:
    worker = people["worker"]
    case = factory.case(workers=(worker,), identified_on=dt.date(2025, 4, 20), created_at=jst(2025, 4, 20))
    alert = report(db_factory, factory, case, worker, "EMERGENCY_RESPONSE")
    assert alert is not None
    factory.contact(case, worker, "PHONE_FAMILY", occurred_at=T0 + dt.timedelta(hours=12))
    assert "resolved" not in {e.kind for e in run(db_factory, T0 + dt.timedelta(days=1)).events}  # nobody has looked
    with db_factory() as s, s.begin():
        alert_service.acknowledge(s, actor_for(s, people["super"]), alert.id, "家族と連絡済み", "2025-05-05", now=T0)
    events = run(db_factory, T0 + dt.timedelta(days=1, hours=1)).events
    assert [(e.kind, e.rule) for e in events] == [("resolved", "R")]


def test_an_acknowledged_urgent_alert_without_news_reopens_after_its_date(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session]
) -> None:
    case = factory.case(workers=(people["worker"],), identified_on=dt.date(2025, 4, 20), created_at=jst(2025, 4, 20))
    alert = report(db_factory, factory, case, people["worker"], "EMERGENCY_RESPONSE")
    assert alert is not None
    with db_factory() as s, s.begin():
        alert_service.acknowledge(s, actor_for(s, people["super"]), alert.id, "様子を見る", "2025-05-03", now=T0)
    assert [e.kind for e in run(db_factory, jst(2025, 5, 3, 12)).events] == []
    assert [e.kind for e in run(db_factory, jst(2025, 5, 4, 9)).events] == ["reopened"]
    with db_factory() as s, s.begin():
        s.get_one(Case, case.id).status = "closed"
        alert_service.acknowledge(s, actor_for(s, people["super"]), alert.id, "終結", "2025-05-10", now=T0)
    assert [(e.kind, e.rule) for e in run(db_factory, jst(2025, 5, 5, 9)).events] == [("resolved", "R")]


def test_two_urgent_reports_at_once_make_one_alert(
    factory: Factory, people: dict[str, User], engine: Engine, db_factory: sessionmaker[Session]
) -> None:
    case = factory.case(workers=(people["worker"],))
    contacts = [factory.contact(case, people["worker"], "EMERGENCY_RESPONSE", occurred_at=T0) for _ in range(2)]
    shared = make_session_factory(engine)
    barrier = threading.Barrier(2)
    got: list[Alert | None] = []

    def apply(contact: Contact) -> None:
        with shared() as s:
            barrier.wait()
            with s.begin():
                c, k = s.get_one(Case, case.id), s.get_one(Contact, contact.id)
                got.append(alert_service.raise_urgent(s, c, k, now=T0))

    threads = [threading.Thread(target=apply, args=(c,)) for c in contacts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 2 and all(a is not None for a in got)
    with db_factory() as s:
        assert len(list(s.scalars(select(Alert).where(Alert.case_id == case.id)))) == 1
