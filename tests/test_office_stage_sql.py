"""The set-based SQL stage (services/derived.py) agrees with the reference rule (progress.stage_of) on
arbitrary event histories, and the effective contact carries its latest amendment."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.models import MilestoneEvent
from server.services.derived import effective_contacts, last_reached, stage_name, stage_ranks
from server.services.progress import stage_of
from server.vocab import ALL_MILESTONES
from tests.factories import Factory
from tests.factories_office import OfficeFactory, at

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

events_strategy = st.lists(
    st.tuples(st.sampled_from(ALL_MILESTONES), st.integers(min_value=0, max_value=6)), min_size=0, max_size=8
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(histories=st.lists(events_strategy, min_size=1, max_size=4))
def test_sql_stage_matches_stage_of(
    factory: Factory, db_factory: sessionmaker[Session], histories: list[list[tuple[str, int]]]
) -> None:
    w = factory.user(f"w-{uuid.uuid4().hex[:8]}")
    expected: dict[uuid.UUID, str | None] = {}
    cases = [factory.case() for _ in histories]
    with db_factory() as s, s.begin():
        for case, history in zip(cases, histories, strict=True):
            events = []
            for i, (milestone, day) in enumerate(history):
                on = dt.date(2025, 1, 1) + dt.timedelta(days=day)
                received = T0 + dt.timedelta(minutes=i)  # distinct, so the order is well defined
                s.add(MilestoneEvent(id=uuid.uuid4(), case_id=case.id, milestone=milestone, reached_on=on,
                                     received_at=received, recorded_by=w.id))
                events.append((milestone, on, received))
            expected[case.id] = stage_of(events)
    with db_factory() as s:
        sq = stage_ranks()
        got = {cid: stage_name(rank) for cid, rank in s.execute(select(sq.c.case_id, sq.c.stage_rank))}
    for case_id, stage in expected.items():
        assert got.get(case_id) == stage


def test_effective_contact_and_last_reached(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    office = OfficeFactory(db_factory)
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    first = factory.contact(case, w, "NO_ANSWER", occurred_at=at(2025, 5, 1))
    office.amendment(first, w, "MET_FAMILY_ONLY", received_at=T0 + dt.timedelta(days=200))
    office.amendment(first, w, "MET_PERSON", received_at=T0 + dt.timedelta(days=201))
    factory.contact(case, w, "NO_ANSWER", occurred_at=at(2025, 6, 1))
    with db_factory() as s:
        eff = effective_contacts()
        rows = s.execute(select(eff.c.id, eff.c.outcome, eff.c.reached, eff.c.amended).order_by(eff.c.occurred_at))
        assert [(r.outcome, r.reached, bool(r.amended)) for r in rows] == [
            ("MET_PERSON", "person", True),
            ("NO_ANSWER", "none", False),
        ]
        lr = last_reached()
        assert s.execute(select(lr.c.last_reached).where(lr.c.case_id == case.id)).scalar_one() == at(2025, 5, 1)
