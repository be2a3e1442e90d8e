"""The alert lifecycle under a controlled clock: raise, resolve, level changes, reopening,
escalation, the sync-lag hold-back, and one live alert per case and rule under concurrency."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from server.alerts.lifecycle import Report, evaluate, insert_alert
from server.db import make_session_factory
from server.models import Alert, AuditEvent, Case, User
from server.permissions import Actor
from server.services import alerts as alert_service
from tests.alert_support import NO_QUIET, Timeline, alerts_of, day_at, deliveries, live, run, subscribe
from tests.factories import Factory

D0 = dt.date(2025, 4, 1)


def at(n: int, hh: int = 9) -> dt.datetime:
    return day_at(D0 + dt.timedelta(days=n), hh)


@pytest.fixture
def people(factory: Factory, db_factory: sessionmaker[Session]) -> dict[str, User]:
    users = {
        "coord": factory.user("coord", role="coordinator"),
        "super": factory.user("super", role="supervisor"),
        "worker": factory.user("worker1"),
        "other_coord": factory.user("coord_b", role="coordinator", team="南部班"),
    }
    for u in users.values():
        subscribe(db_factory, u)
    return users


@pytest.fixture
def tl(db_factory: sessionmaker[Session]) -> Timeline:
    return Timeline(db_factory)


def stalled_case(factory: Factory, worker: User, **kw: object) -> Case:
    """A case whose family was last reached on D0: S2 from day 30."""
    kw.setdefault("created_at", at(0))
    kw.setdefault("identified_on", D0 - dt.timedelta(days=5))
    case = factory.case(workers=(worker,), **kw)
    factory.contact(case, worker, "MET_FAMILY_ONLY", occurred_at=at(0))
    return case


def actor_of(db: Session, user: User) -> Actor:
    from server.models import Team

    municipality = db.scalar(select(Team.municipality_id).where(Team.id == user.team_id))
    assert municipality is not None
    return Actor(user_id=user.id, role=user.role, team_id=user.team_id, municipality_id=municipality)


def ack(db_factory: sessionmaker[Session], user: User, alert: Alert, next_date: dt.date, now: dt.datetime) -> None:
    with db_factory() as s, s.begin():
        alert_service.acknowledge(s, actor_of(s, user), alert.id, "民生委員と訪問を検討", next_date, now=now)


def test_raised_then_resolved_when_the_condition_clears(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session]
) -> None:
    case = stalled_case(factory, people["worker"])
    assert run(db_factory, at(29)).events == []
    report = run(db_factory, at(30))
    assert [(e.kind, e.rule, e.level) for e in report.events] == [("raised", "S2", "caution")]
    s2 = alerts_of(db_factory, case)["S2"]
    assert s2.state == "open" and s2.opened_at == at(30) and s2.escalated_at is None
    # The coordinator of the team is told; the supervisor, the worker and another team are not.
    assert [(u, k) for u, k, _, _ in deliveries(db_factory)] == [("coord", "alerts")]

    assert run(db_factory, at(31)).events == []  # evaluating again changes nothing
    factory.contact(case, people["worker"], "PHONE_FAMILY", occurred_at=at(32))
    report = run(db_factory, at(33))
    assert [(e.kind, e.rule) for e in report.events] == [("resolved", "S2")]
    with db_factory() as s:
        resolved = s.get(Alert, s2.id)
        assert resolved is not None and resolved.state == "resolved" and resolved.resolved_at == at(33)
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "alert.evaluate")) == 2
    # Stalled again later: a new alert, the resolved one stays as history.
    report = run(db_factory, at(70))
    assert [(e.kind, e.rule, e.level) for e in report.events] == [("raised", "S2", "caution")]


def test_a_rising_level_reopens_and_the_meeting_level_goes_to_the_supervisor(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session]
) -> None:
    case = stalled_case(factory, people["worker"])
    run(db_factory, at(30))
    ack(db_factory, people["coord"], alerts_of(db_factory, case)["S2"], D0 + dt.timedelta(days=75), at(31))
    assert run(db_factory, at(45)).events == []
    report = run(db_factory, at(60))
    assert [(e.kind, e.level) for e in report.events] == [("level", "warning"), ("reopened", "warning")]
    assert alerts_of(db_factory, case)["S2"].state == "open"
    report = run(db_factory, at(90))
    s2_events = [(e.kind, e.level) for e in report.events if e.rule == "S2"]
    assert s2_events == [("level", "meeting"), ("escalated", "meeting")]
    s2 = alerts_of(db_factory, case)["S2"]
    assert s2.escalated_at == at(90)
    assert ("super", "alerts") in [(u, k) for u, k, _, _ in deliveries(db_factory)]


@pytest.mark.parametrize(("n", "escalated"), [(6, False), (7, True)])
def test_unacknowledged_alerts_escalate_after_seven_days(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session], n: int, escalated: bool
) -> None:
    case = stalled_case(factory, people["worker"])
    run(db_factory, at(30))
    report = run(db_factory, at(30 + n))
    assert [e.kind for e in report.events] == (["escalated"] if escalated else [])
    assert (alerts_of(db_factory, case)["S2"].escalated_at is not None) is escalated
    assert (("super", "alerts") in [(u, k) for u, k, _, _ in deliveries(db_factory)]) is escalated


def test_acknowledged_alerts_do_not_escalate_but_reopen_after_the_next_date(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session]
) -> None:
    case = stalled_case(factory, people["worker"])
    run(db_factory, at(30))
    ack(db_factory, people["coord"], alerts_of(db_factory, case)["S2"], D0 + dt.timedelta(days=40), at(31))
    assert run(db_factory, at(40)).events == []  # the next date is today: not passed yet
    report = run(db_factory, at(41))
    assert [e.kind for e in report.events] == ["reopened"]
    s2 = alerts_of(db_factory, case)["S2"]
    assert s2.state == "open" and s2.opened_at == at(41) and s2.ack_note  # the last note is kept
    assert [e.kind for e in run(db_factory, at(48)).events] == ["escalated"]


def test_s6_s7_and_urgent_go_to_the_supervisor_at_once(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session], tl: Timeline
) -> None:
    case = stalled_case(factory, people["worker"], plan_review_due=D0)
    tl.unassign_all(case, at(1))
    report = run(db_factory, at(5))
    raised = {e.rule: e for e in report.events if e.kind == "raised"}
    assert set(raised) == {"S6", "S7"} and all(e.escalated for e in raised.values())
    assert sorted({(u, k) for u, k, _, _ in deliveries(db_factory)}) == [("coord", "alerts"), ("super", "alerts")]


def test_the_supervisor_of_another_municipality_is_not_told(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session]
) -> None:
    elsewhere = factory.user("super_x", role="supervisor", team="他市班", municipality="よそ市")
    subscribe(db_factory, elsewhere)
    stalled_case(factory, people["worker"], plan_review_due=D0)
    run(db_factory, at(5))
    assert "super_x" not in {u for u, _, _, _ in deliveries(db_factory)}


# --- sync-aware ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("silent", "held"), [(dt.timedelta(days=3), False), (dt.timedelta(days=3, minutes=1), True)])
def test_a_silent_phone_holds_the_case_alerts_back(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session], tl: Timeline,
    silent: dt.timedelta, held: bool,
) -> None:
    worker = people["worker"]
    case = stalled_case(factory, worker)
    tl.device(worker, last_sync_at=at(30) - silent, outbox_depth=2)
    report = run(db_factory, at(30))
    raised = {(e.rule, e.subject_user_id) for e in report.events if e.kind == "raised"}
    if held:
        assert raised == {("DEVICE_UNSYNCED", worker.id)}
        assert report.held_back == 1
        assert alerts_of(db_factory, case) == {}
        kinds = {(u, k) for u, k, _, _ in deliveries(db_factory)}
        assert kinds == {("coord", "alerts"), ("worker1", "sync")}
    else:
        assert raised == {("S2", None)}


def test_when_the_phone_syncs_the_device_alert_resolves_and_the_case_alert_is_raised(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session], tl: Timeline
) -> None:
    worker = people["worker"]
    case = stalled_case(factory, worker)
    phone = tl.device(worker, last_sync_at=at(20))
    tl.device(worker, last_sync_at=None, revoked_at=at(1))  # a revoked phone does not count
    run(db_factory, at(30))
    assert [a.rule for a in live(db_factory)] == ["DEVICE_UNSYNCED"]
    tl.sync(phone, at(31))
    report = run(db_factory, at(31, 10))
    assert sorted((e.kind, e.rule) for e in report.events) == [("raised", "S2"), ("resolved", "DEVICE_UNSYNCED")]
    assert set(alerts_of(db_factory, case)) == {"S2"}


def test_a_stale_phone_with_unsent_records_counts_even_when_another_syncs(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session], tl: Timeline
) -> None:
    worker = people["worker"]
    stalled_case(factory, worker)
    tl.device(worker, last_sync_at=at(30))  # the new phone syncs
    old = tl.device(worker, last_sync_at=at(10), outbox_depth=0)  # the old one is just unused
    assert {e.rule for e in run(db_factory, at(30, 10)).events} == {"S2"}
    tl.sync(old, at(10), outbox_depth=3)  # …but it still holds three unsent records
    report = run(db_factory, at(31))
    assert {e.rule for e in report.events if e.kind == "raised"} == {"DEVICE_UNSYNCED"}


def test_held_back_alerts_that_are_already_live_stay(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session], tl: Timeline
) -> None:
    worker = people["worker"]
    case = stalled_case(factory, worker)
    run(db_factory, at(30))
    tl.device(worker, last_sync_at=at(31))
    report = run(db_factory, at(40))  # silent for 9 days; the S2 alert was raised before
    assert {(e.kind, e.rule) for e in report.events} == {("raised", "DEVICE_UNSYNCED")}
    s2 = alerts_of(db_factory, case)["S2"]
    assert s2.state == "open" and s2.escalated_at is None  # not escalated while held back


# --- one live alert per case and rule --------------------------------------------------------------


def test_two_concurrent_evaluations_raise_each_alert_once(
    factory: Factory, people: dict[str, User], engine: Engine, db_factory: sessionmaker[Session]
) -> None:
    for i in range(5):
        stalled_case(factory, people["worker"], family_name=f"並行{i}", plan_review_due=D0)
    factory_ = make_session_factory(engine)
    barrier = threading.Barrier(2)
    reports: list[Report] = []
    errors: list[BaseException] = []

    def evaluate_once() -> None:
        try:
            with factory_() as s:
                barrier.wait()
                with s.begin():
                    reports.append(evaluate(s, at(95), NO_QUIET))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=evaluate_once) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    raised = [e for r in reports for e in r.events if e.kind == "raised"]
    alerts = live(db_factory)
    assert len(raised) == len(alerts) == 5 * 3  # S2 (meeting), S6 and S7 for each case
    with db_factory() as s:
        dupes = s.execute(
            select(Alert.case_id, Alert.rule, func.count())
            .where(Alert.state != "resolved")
            .group_by(Alert.case_id, Alert.rule)
            .having(func.count() > 1)
        ).all()
    assert dupes == []


def test_the_database_refuses_a_second_live_alert(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session]
) -> None:
    case = stalled_case(factory, people["worker"])
    with db_factory() as s, s.begin():
        assert insert_alert(s, case_id=case.id, team_id=case.team_id, rule="S2", level="caution", opened_at=at(30))
    with db_factory() as s, s.begin():
        again = insert_alert(s, case_id=case.id, team_id=case.team_id, rule="S2", level="warning", opened_at=at(60))
        assert again is None
        assert insert_alert(s, case_id=case.id, team_id=case.team_id, rule="S1", level="caution", opened_at=at(60))


def test_a_refused_acknowledgement_changes_nothing(
    factory: Factory, people: dict[str, User], db_factory: sessionmaker[Session]
) -> None:
    from server.errors import ApiError

    case = stalled_case(factory, people["worker"])
    run(db_factory, at(30))
    s2 = alerts_of(db_factory, case)["S2"]
    with db_factory() as s, s.begin():
        refusals = (("", "2025-06-01", "note"), ("見ました", "6月1日", "next_date"), ("x", None, "next_date"))
        for note, next_date, field in refusals:
            with pytest.raises(ApiError) as exc:
                alert_service.acknowledge(s, actor_of(s, people["coord"]), s2.id, note, next_date, now=at(31))
            assert exc.value.field == field
        alert = s.get_one(Alert, s2.id)
        assert (alert.state, alert.acknowledged_at, alert.ack_note) == ("open", None, "")
