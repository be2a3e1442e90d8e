"""The kept per-case facts (server/alerts/case_facts.py) agree with the facts computed live from the
contacts and milestone events — after a rebuild and after each incremental refresh, corrections and
setbacks included — and the rules read from them find what the live rules find."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.alerts import case_facts, rules
from server.alerts.sqlfuncs import thresholds_by_team, thresholds_cte
from server.models import Case, Contact, User
from server.vocab import ALL_MILESTONES, OUTCOMES
from tests.alert_support import Timeline, day_at, run
from tests.factories import Factory

D0 = dt.date(2025, 4, 1)
METHODS = ("HOME_VISIT", "PHONE", "AGENCY_LIAISON", "MEETING")
# (case index, method, outcome, day, the index of an earlier contact to correct, or None), or
# (case index, "milestone", milestone, day, None)
Record = tuple[int, str, str, int, int | None]
contact_records = st.tuples(
    st.integers(0, 2),
    st.sampled_from(METHODS),
    st.sampled_from(sorted(OUTCOMES)),
    st.integers(0, 20),
    st.one_of(st.none(), st.integers(0, 30)),
)
milestone_records = st.tuples(
    st.integers(0, 2), st.just("milestone"), st.sampled_from(ALL_MILESTONES), st.integers(0, 20), st.none()
)
records = st.lists(st.one_of(contact_records, milestone_records), max_size=8)


@pytest.fixture
def worker(factory: Factory) -> User:
    factory.user("coord", role="coordinator")
    return factory.user("worker1")


def _record(
    factory: Factory, worker: User, cases: list[Case], made: list[Contact], recs: list[Record]
) -> dict[str, set[uuid.UUID]]:
    """Add the records (each in its own committed transaction, as pushes do); the cases touched."""
    touched: dict[str, set[uuid.UUID]] = {"case_contact_facts": set(), "case_milestone_facts": set()}
    by_id = {c.id: c for c in cases}
    for i, (case_index, method, outcome, day, amend) in enumerate(recs):
        at = day_at(D0 + dt.timedelta(days=day))
        if method == "milestone":
            Timeline(factory.db).milestone(cases[case_index], worker, outcome, at.date(), seconds=i)
            touched["case_milestone_facts"].add(cases[case_index].id)
        elif amend is not None and made:
            original = made[amend % len(made)]
            factory.contact(by_id[original.case_id], worker, outcome, method=method, occurred_at=at,
                            amends_id=original.id)  # fmt: skip
            touched["case_contact_facts"].add(original.case_id)
        else:
            made.append(factory.contact(cases[case_index], worker, outcome, method=method, occurred_at=at))
            touched["case_contact_facts"].add(cases[case_index].id)
    return touched


def _refresh(db_factory: sessionmaker[Session]) -> dict[str, int]:
    with db_factory() as s, s.begin():
        return case_facts.refresh(s)


def _assert_same(db_factory: sessionmaker[Session], cases: list[Case]) -> None:
    ids = [c.id for c in cases]
    with db_factory() as s:
        for facts in case_facts.KEPT:
            t = facts.table
            kept = {tuple(r) for r in s.execute(select(t).where(t.c.case_id.in_(ids)))}
            assert kept == {tuple(r) for r in s.execute(facts.rows(ids))}, facts.name
        th = thresholds_cte(thresholds_by_team(s), day_at(D0 + dt.timedelta(days=60)))
        assert th is not None
        from_table = set(rules.case_candidates(s, th, ids, kept=True))
        assert from_table == set(rules.case_candidates(s, th, ids))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=records, second=records)
def test_kept_facts_match_the_live_facts(
    factory: Factory, worker: User, db_factory: sessionmaker[Session], first: list[Record], second: list[Record]
) -> None:
    tag = uuid.uuid4().hex[:8]
    cases = [factory.case(workers=(worker,), family_name=f"{tag}{i}", identified_on=D0) for i in range(3)]
    made: list[Contact] = []
    _record(factory, worker, cases, made, first)
    _refresh(db_factory)
    _assert_same(db_factory, cases)
    touched = _record(factory, worker, cases, made, second)
    # only the cases that received a record
    assert _refresh(db_factory) == {name: len(ids) for name, ids in touched.items()}
    _assert_same(db_factory, cases)
    assert _refresh(db_factory) == {"case_contact_facts": 0, "case_milestone_facts": 0}


def test_without_a_watermark_every_case_is_recomputed(
    factory: Factory, worker: User, db_factory: sessionmaker[Session]
) -> None:
    cases = [factory.case(workers=(worker,), family_name=f"件{i}", identified_on=D0) for i in range(2)]
    made: list[Contact] = []
    recs: list[Record] = [(0, "PHONE", "NO_ANSWER", 1, None), (1, "HOME_VISIT", "MET_PERSON", 2, None),
                          (1, "milestone", "FAMILY_FIRST_CONTACT", 3, None)]  # fmt: skip
    _record(factory, worker, cases, made, recs)
    assert _refresh(db_factory) == {"case_contact_facts": 2, "case_milestone_facts": 1}  # no watermark yet
    with db_factory() as s, s.begin():
        s.execute(case_facts.CONTACT_FACTS.table.update().values(attempts=99, streak=99))  # damaged
        case_facts.forget(s, case_facts.CONTACT_FACTS)
    assert _refresh(db_factory) == {"case_contact_facts": 2, "case_milestone_facts": 0}
    _assert_same(db_factory, cases)


def test_the_evaluation_sees_a_contact_recorded_since_the_last_one(
    factory: Factory, worker: User, db_factory: sessionmaker[Session]
) -> None:
    case = factory.case(workers=(worker,), identified_on=D0)
    made = [factory.contact(case, worker, "NO_ANSWER", occurred_at=day_at(D0 + dt.timedelta(days=i))) for i in range(4)]
    now = day_at(D0 + dt.timedelta(days=10))
    assert {e.rule for e in run(db_factory, now).of("raised") if e.case_id == case.id} >= {"S3"}
    factory.contact(case, worker, "MET_PERSON", occurred_at=day_at(D0 + dt.timedelta(days=3)), amends_id=made[3].id)
    assert {e.rule for e in run(db_factory, now).of("resolved") if e.case_id == case.id} == {"S3"}


def test_raised_alerts_are_inserted_numbered_not_stamped_again_at_commit(
    factory: Factory, worker: User, db_factory: sessionmaker[Session]
) -> None:
    from sqlalchemy import event

    from server.models import Alert, SyncCounter

    cases = [factory.case(workers=(worker,), family_name=f"件{i}", identified_on=D0) for i in range(3)]
    statements: list[str] = []
    bind = db_factory.kw["bind"]
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(bind, "before_cursor_execute", listener)
    try:
        report = run(db_factory, day_at(D0 + dt.timedelta(days=40)))
    finally:
        event.remove(bind, "before_cursor_execute", listener)
    raised = {e.alert_id for e in report.of("raised")}
    assert {e.case_id for e in report.of("raised")} >= {c.id for c in cases}
    with db_factory() as s:
        counter = s.scalars(select(SyncCounter.seq)).one()
        assert set(s.scalars(select(Alert.sync_seq).where(Alert.id.in_(raised)))) == {counter}
    assert not [q for q in statements if q.startswith("UPDATE alert SET sync_seq")]
