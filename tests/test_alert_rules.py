"""The stall rules (DOMAIN.md §4) against crafted timelines, including the boundary days.

Every rule counts Japan calendar days; "day N" below is N days after the reference event."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.alerts import rules
from server.models import Case, Team, User
from server.services.progress import stage_of
from server.vocab import ALL_MILESTONES, MILESTONE_RANK, SETBACK
from tests.alert_support import Timeline, candidates, day_at, jst, rules_for
from tests.factories import Factory

D0 = dt.date(2025, 4, 1)


def on(day: dt.date, hh: int = 9) -> dt.datetime:
    return day_at(day, hh)


def days(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


@pytest.fixture
def tl(db_factory: sessionmaker[Session]) -> Timeline:
    return Timeline(db_factory)


@pytest.fixture
def worker(factory: Factory) -> User:
    factory.user("coord", role="coordinator")
    return factory.user("worker1")


def a_case(factory: Factory, worker: User, **kw: object) -> Case:
    kw.setdefault("identified_on", D0 - dt.timedelta(days=10))
    kw.setdefault("created_at", on(D0))
    return factory.case(workers=(worker,), **kw)


# --- S2: no reach, 30 / 60 / 90 days ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "level"),
    [(29, None), (30, "caution"), (31, "caution"), (59, "caution"), (60, "warning"), (89, "warning"),
     (90, "meeting"), (200, "meeting")],
)
def test_s2_levels_on_the_boundary_days(
    factory: Factory, worker: User, db_factory: sessionmaker[Session], n: int, level: str | None
) -> None:
    case = a_case(factory, worker)
    factory.contact(case, worker, "PHONE_FAMILY", occurred_at=on(D0, 10))
    factory.contact(case, worker, "NO_ANSWER", occurred_at=on(days(5)))  # an attempt is not a reach
    assert rules_for(db_factory, case, on(days(n))).get("S2") == level


def test_s2_counts_japan_calendar_days(factory: Factory, worker: User, db_factory: sessionmaker[Session]) -> None:
    case = a_case(factory, worker)
    # 23:30 on April 1 in Japan is still April 1 there (14:30 UTC).
    factory.contact(case, worker, "MET_FAMILY_ONLY", occurred_at=jst(2025, 4, 1, 23, 30))
    assert "S2" not in rules_for(db_factory, case, jst(2025, 4, 30, 23, 59))  # day 29
    assert rules_for(db_factory, case, jst(2025, 5, 1, 0, 10))["S2"] == "caution"  # day 30, ten past midnight


def test_s2_never_reached_counts_from_identification(
    factory: Factory, worker: User, db_factory: sessionmaker[Session]
) -> None:
    case = a_case(factory, worker, identified_on=D0)
    factory.contact(case, worker, "LEFT_LETTER", occurred_at=on(days(3)))
    assert "S2" not in rules_for(db_factory, case, on(days(29)))
    assert rules_for(db_factory, case, on(days(30)))["S2"] == "caution"


def test_s2_a_decline_is_a_reach(factory: Factory, worker: User, db_factory: sessionmaker[Session]) -> None:
    case = a_case(factory, worker)
    factory.contact(case, worker, "MET_PERSON", occurred_at=on(D0))
    factory.contact(case, worker, "DECLINED_BY_PERSON", occurred_at=on(days(40)))
    assert "S2" not in rules_for(db_factory, case, on(days(60)))


def test_s2_reads_the_corrected_contact(factory: Factory, worker: User, db_factory: sessionmaker[Session]) -> None:
    case = a_case(factory, worker)
    factory.contact(case, worker, "MET_FAMILY_ONLY", occurred_at=on(D0))
    wrong = factory.contact(case, worker, "NO_ANSWER", occurred_at=on(days(20)))
    assert rules_for(db_factory, case, on(days(30)))["S2"] == "caution"
    # The worker corrects the second visit: the mother did open the door.
    factory.contact(case, worker, "MET_FAMILY_ONLY", occurred_at=on(days(20)), amends_id=wrong.id)
    assert "S2" not in rules_for(db_factory, case, on(days(30)))


def test_team_thresholds_override_the_defaults(
    factory: Factory, worker: User, db_factory: sessionmaker[Session]
) -> None:
    case = a_case(factory, worker)
    factory.contact(case, worker, "PHONE_PERSON", occurred_at=on(D0))
    with db_factory() as s, s.begin():
        team = s.scalars(select(Team).where(Team.id == case.team_id)).one()
        team.stall_thresholds = {"s2_caution_days": 14, "s2_warning_days": 21, "s2_meeting_days": 45}
    assert "S2" not in rules_for(db_factory, case, on(days(13)))
    assert rules_for(db_factory, case, on(days(14)))["S2"] == "caution"
    assert rules_for(db_factory, case, on(days(21)))["S2"] == "warning"
    assert rules_for(db_factory, case, on(days(45)))["S2"] == "meeting"


def test_invalid_team_thresholds_fall_back_to_the_defaults(
    factory: Factory, worker: User, db_factory: sessionmaker[Session]
) -> None:
    case = a_case(factory, worker)
    factory.contact(case, worker, "PHONE_PERSON", occurred_at=on(D0))
    with db_factory() as s, s.begin():
        team = s.scalars(select(Team).where(Team.id == case.team_id)).one()
        team.stall_thresholds = {"s2_caution_days": "soon"}
    assert rules_for(db_factory, case, on(days(30)))["S2"] == "caution"


# --- S1: next planned action overdue -----------------------------------------------------------------


@pytest.mark.parametrize(("n", "raised"), [(6, False), (7, True), (8, True)])
def test_s1_seven_days_after_the_due_date(
    factory: Factory, worker: User, db_factory: sessionmaker[Session], n: int, raised: bool
) -> None:
    case = a_case(factory, worker, next_action_due=D0)
    factory.contact(case, worker, "MET_PERSON", occurred_at=on(D0 - dt.timedelta(days=1)))  # before the due date
    assert ("S1" in rules_for(db_factory, case, on(days(n)))) is raised


def test_s1_any_attempt_on_or_after_the_due_date_counts(
    factory: Factory, worker: User, db_factory: sessionmaker[Session]
) -> None:
    case = a_case(factory, worker, next_action_due=D0)
    factory.contact(case, worker, "NO_ANSWER", occurred_at=jst(2025, 4, 1, 8, 0))  # on the day, in Japan
    assert "S1" not in rules_for(db_factory, case, on(days(30)))


# --- S3: repeated no response ---------------------------------------------------------------------


def test_s3_four_attempts_in_a_row(factory: Factory, worker: User, db_factory: sessionmaker[Session]) -> None:
    case = a_case(factory, worker)
    now = on(days(20))
    factory.contact(case, worker, "PHONE_PERSON", occurred_at=on(D0))
    for i, outcome in enumerate(("NO_ANSWER", "LEFT_LETTER", "DECLINED_BY_FAMILY")):
        factory.contact(case, worker, outcome, occurred_at=on(days(1 + i)))
    factory.contact(case, worker, "NO_ANSWER", method="AGENCY_LIAISON", occurred_at=on(days(5)))
    assert "S3" not in rules_for(db_factory, case, now)  # 3 attempts; liaison with an agency is not one
    factory.contact(case, worker, "PHONE_NO_ANSWER", method="PHONE", occurred_at=on(days(6)))
    assert rules_for(db_factory, case, now)["S3"] == "caution"
    factory.contact(case, worker, "SPOKE_THROUGH_DOOR", occurred_at=on(days(7)))
    assert "S3" not in rules_for(db_factory, case, now)


def test_s3_a_correction_can_break_the_streak(
    factory: Factory, worker: User, db_factory: sessionmaker[Session]
) -> None:
    case = a_case(factory, worker)
    made = [factory.contact(case, worker, "NO_ANSWER", occurred_at=on(days(i))) for i in range(4)]
    assert "S3" in rules_for(db_factory, case, on(days(10)))
    factory.contact(case, worker, "MET_PERSON", occurred_at=on(days(3)), amends_id=made[3].id)
    assert "S3" not in rules_for(db_factory, case, on(days(10)))


# --- S4 and S5: the ladder -------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "raised"), [(179, False), (180, True)])
def test_s4_no_new_rung_for_180_days(
    factory: Factory, worker: User, tl: Timeline, db_factory: sessionmaker[Session], n: int, raised: bool
) -> None:
    case = a_case(factory, worker, identified_on=D0 - dt.timedelta(days=30))
    tl.milestone(case, worker, "IDENTIFIED", D0 - dt.timedelta(days=30))
    tl.milestone(case, worker, "FIRST_VOICE_CONTACT", D0)
    tl.milestone(case, worker, SETBACK, days(100))  # a setback is not progress
    assert (rules_for(db_factory, case, on(days(n))).get("S4") == "review") is raised


@pytest.mark.parametrize(("n", "raised"), [(180, False), (181, True)])
def test_s5_family_only_for_more_than_180_days(
    factory: Factory, worker: User, tl: Timeline, db_factory: sessionmaker[Session], n: int, raised: bool
) -> None:
    case = a_case(factory, worker, identified_on=D0)
    tl.milestone(case, worker, "FAMILY_FIRST_CONTACT", days(20))
    tl.milestone(case, worker, "FAMILY_ENGAGED", days(150))
    assert (rules_for(db_factory, case, on(days(n))).get("S5") == "review") is raised


def test_s5_ends_when_the_person_is_reached_and_restarts_after_a_setback(
    factory: Factory, worker: User, tl: Timeline, db_factory: sessionmaker[Session]
) -> None:
    case = a_case(factory, worker, identified_on=D0)
    tl.milestone(case, worker, "IDENTIFIED", D0)
    tl.milestone(case, worker, "PERSON_AWARE", days(30))
    assert "S5" not in rules_for(db_factory, case, on(days(400)))
    tl.milestone(case, worker, SETBACK, days(200))
    assert "S5" not in rules_for(db_factory, case, on(days(400)))  # stage SETBACK is not family-only
    tl.milestone(case, worker, "FAMILY_ENGAGED", days(210))
    assert "S5" not in rules_for(db_factory, case, on(days(210 + 180)))
    assert rules_for(db_factory, case, on(days(210 + 181)))["S5"] == "review"


def test_s5_a_case_without_milestones_is_family_only_since_identification(
    factory: Factory, worker: User, db_factory: sessionmaker[Session]
) -> None:
    case = a_case(factory, worker, identified_on=D0)
    assert "S5" not in rules_for(db_factory, case, on(days(180)))
    assert rules_for(db_factory, case, on(days(181)))["S5"] == "review"


# --- S6, S7 ------------------------------------------------------------------------------------


def test_s6_plan_review_date_passed(factory: Factory, worker: User, db_factory: sessionmaker[Session]) -> None:
    case = a_case(factory, worker, plan_review_due=D0)
    assert "S6" not in rules_for(db_factory, case, jst(2025, 4, 1, 23, 59))
    assert rules_for(db_factory, case, jst(2025, 4, 2, 0, 1))["S6"] == "warning"


def test_s7_no_worker(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    case = factory.case(identified_on=D0, created_at=on(D0))
    assert rules_for(db_factory, case, on(days(1)))["S7"] == "warning"


@pytest.mark.parametrize(("n", "raised"), [(89, False), (90, True)])
def test_s7_no_coordinator_review_for_90_days(
    factory: Factory, worker: User, tl: Timeline, db_factory: sessionmaker[Session], n: int, raised: bool
) -> None:
    case = a_case(factory, worker, created_at=on(D0 - dt.timedelta(days=300)))
    coordinator = factory.user("coord2", role="coordinator")
    tl.review(case, coordinator, jst(2025, 4, 1, 23, 0))
    assert ("S7" in rules_for(db_factory, case, on(days(n)))) is raised


def test_s7_a_new_case_counts_from_its_creation(
    factory: Factory, worker: User, db_factory: sessionmaker[Session]
) -> None:
    case = a_case(factory, worker, created_at=on(D0))
    assert "S7" not in rules_for(db_factory, case, on(days(89)))
    assert "S7" in rules_for(db_factory, case, on(days(90)))


# --- scope -------------------------------------------------------------------------------------


def test_closed_cases_raise_nothing_watching_ones_do(
    factory: Factory, worker: User, db_factory: sessionmaker[Session]
) -> None:
    closed = a_case(factory, worker, status="closed", identified_on=D0, plan_review_due=D0)
    watching = a_case(factory, worker, status="watching", identified_on=D0, plan_review_due=D0,
                      family_name="佐藤")
    found = candidates(db_factory, on(days(400)))
    assert {r for cid, r, _ in found if cid == closed.id} == set()
    assert {r for cid, r, _ in found if cid == watching.id} >= {"S2", "S4", "S5", "S6", "S7"}


def test_one_statement_for_every_rule_whatever_the_number_of_cases(
    factory: Factory, worker: User, db_factory: sessionmaker[Session]
) -> None:
    from sqlalchemy import event

    for i in range(12):
        c = a_case(factory, worker, family_name=f"件{i}", identified_on=D0)
        factory.contact(c, worker, "NO_ANSWER", occurred_at=on(days(i)))
    statements: list[str] = []
    with db_factory() as s:
        bind = s.get_bind()
        listener = lambda *a: statements.append(a[2])  # noqa: E731
        event.listen(bind, "before_cursor_execute", listener)
        try:
            from server.alerts.sqlfuncs import thresholds_by_team, thresholds_cte

            th = thresholds_cte(thresholds_by_team(s), on(days(200)))
            assert th is not None
            found = rules.case_candidates(s, th)
        finally:
            event.remove(bind, "before_cursor_execute", listener)
    assert len({c.case_id for c in found}) == 12
    assert len([q for q in statements if "case_record" in q]) == 1  # the rules share one pass over contacts


# --- the stage in SQL agrees with services/progress.stage_of ----------------------------------------

events = st.lists(st.tuples(st.sampled_from(ALL_MILESTONES), st.integers(min_value=1, max_value=12)), max_size=7)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evts=events)
def test_sql_stage_matches_python(
    factory: Factory, worker: User, tl: Timeline, db_factory: sessionmaker[Session], evts: list[tuple[str, int]]
) -> None:
    case = a_case(factory, worker, family_name=uuid.uuid4().hex[:8])
    py_events = []
    for i, (m, d) in enumerate(evts):
        day = dt.date(2025, 1, d)
        tl.milestone(case, worker, m, day, seconds=i)
        py_events.append((m, day, day_at(day) + dt.timedelta(seconds=i)))
    expected = stage_of(py_events)
    with db_factory() as s:
        cl = rules.climb().subquery()
        row = s.execute(select(cl.c.top_rank).where(cl.c.case_id == case.id)).one_or_none()
    if expected is None:
        assert row is None
    elif expected == SETBACK:
        assert row is not None and row.top_rank is None
    else:
        assert row is not None and row.top_rank == MILESTONE_RANK[expected]
