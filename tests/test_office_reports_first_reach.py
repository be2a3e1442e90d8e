"""把握から本人接触までの日数 counts a case in the period of its *first* contact that reached the
person, by the corrected values: a reach before the period takes the case out, a reach that a
correction turned into 不在 does not."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from server.i18n.dates import fiscal_year_range
from server.models import User
from server.services import reports
from server.services.auth import actor_for
from tests.factories import Factory
from tests.factories_office import OfficeFactory, at


def _fy2025(db_factory: sessionmaker[Session], user: User) -> reports.Indicators:
    with db_factory() as s:
        actor = actor_for(s, s.get(User, user.id))  # type: ignore[arg-type]
        return reports.indicators(s, actor, *fiscal_year_range(2025))


def test_only_a_first_reach_in_the_period_counts(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    office = OfficeFactory(db_factory)
    w = factory.user("w1", team="北部班")
    sup = factory.user("s1", role="supervisor", team="北部班")
    # Reached in 年度2024 already: reached again in 年度2025, but that is not a first reach.
    before = factory.case(team="北部班", workers=(w,), identified_on=dt.date(2024, 10, 1))
    factory.contact(before, w, "MET_PERSON", occurred_at=at(2025, 3, 1))
    factory.contact(before, w, "MET_PERSON", occurred_at=at(2025, 5, 1))
    # Recorded as met in 年度2024, corrected to 不在: the first reach is in 年度2025, 60 days after 把握.
    corrected = factory.case(team="北部班", workers=(w,), identified_on=dt.date(2025, 2, 1))
    wrong = factory.contact(corrected, w, "MET_PERSON", occurred_at=at(2025, 3, 1))
    office.amendment(wrong, w, "NO_ANSWER")
    factory.contact(corrected, w, "MET_PERSON", occurred_at=at(2025, 4, 2))
    # Family only: never reached the person.
    family = factory.case(team="北部班", workers=(w,), identified_on=dt.date(2025, 4, 1))
    factory.contact(family, w, "MET_FAMILY_ONLY", occurred_at=at(2025, 4, 5), counterpart="FAMILY")

    ind = _fy2025(db_factory, sup)
    assert ind.days_to_person_count == 1 and ind.days_to_person_median == 60
    assert ind.persons_supported == 3 and ind.persons_reached == 2 and ind.families_reached == 1
    assert ind.contacts_total == 3
