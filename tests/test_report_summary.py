"""The dashboard's summary of contacts (services/report_summary.py) gives exactly the live query's
figures: over random contacts, corrections (of the outcome, the method, the day — across a month or
a 年度 boundary), team moves, program item changes and closures, refreshed incrementally between
steps; its totals per team, program item and month equal the live contacts added up by the cases'
current team and program item; and it is rebuilt from nothing, and refreshed once when two
dashboards ask at the same time."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from server.i18n.dates import fiscal_year_range, quarter_range
from server.models import Case, Contact, ContactMonth, DerivedWatermark, Team, TeamMonth, User
from server.models.report import method_column
from server.permissions import Permission
from server.services import report_summary, reports
from server.services.auth import actor_for
from server.services.derived import day_start
from server.vocab import CONTACT_METHODS, OUTCOMES, SHARING_BASES
from tests.factories import Factory
from tests.factories_office import OfficeFactory

TEAMS = ("北部班", "南部班")
PERIODS = [fiscal_year_range(2024), fiscal_year_range(2025), *(quarter_range(2025, q) for q in (1, 2, 3, 4))]
T0 = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)  # received_at of corrections: after every attempt


def _when(day: int, hour: int) -> dt.datetime:
    # From 2024-03-20: both 年度 2024 and 2025 and their edges; 14:00–16:00 UTC straddles Tokyo midnight.
    return dt.datetime(2024, 3, 20, tzinfo=dt.UTC) + dt.timedelta(days=day, hours=hour)


days = st.integers(min_value=0, max_value=760)
hours = st.sampled_from((0, 14, 15, 16, 23))
contact_step = st.tuples(st.just("contact"), st.integers(0, 5), days, hours, st.sampled_from(sorted(OUTCOMES)),
                         st.sampled_from(CONTACT_METHODS), st.sampled_from(SHARING_BASES))  # fmt: skip
amend_step = st.tuples(st.just("amend"), st.integers(0, 10**6), st.one_of(st.none(), days), hours,
                       st.sampled_from(sorted(OUTCOMES)), st.sampled_from(CONTACT_METHODS), st.just(""))  # fmt: skip
move_step = st.tuples(st.just("move"), st.integers(0, 5), st.integers(0, 1), st.just(0), st.just(""),
                      st.just(""), st.just(""))  # fmt: skip
item_step = st.tuples(st.just("item"), st.integers(0, 5), st.sampled_from((3, 4)), st.just(0), st.just(""),
                      st.just(""), st.just(""))  # fmt: skip
close_step = st.tuples(st.just("close"), st.integers(0, 5), st.just(0), st.just(0), st.just(""), st.just(""),
                      st.just(""))  # fmt: skip
view_step = st.tuples(st.just("view"), st.just(0), st.just(0), st.just(0), st.just(""), st.just(""), st.just(""))
refresh_step = st.tuples(st.just("refresh"), st.just(0), st.just(0), st.just(0), st.just(""), st.just(""),
                         st.just(""))  # fmt: skip
steps = st.lists(
    st.one_of(contact_step, contact_step, amend_step, move_step, item_step, close_step, view_step, refresh_step,
              refresh_step),
    max_size=25,
)  # fmt: skip


def _figures(s: Session, actor: Any, start: dt.date, end: dt.date, team_id: uuid.UUID | None, live: bool) -> Any:
    scope = reports.report_scope(actor, team_id)
    out = reports.Indicators(start=start, end=end)
    if live:
        reports._contact_figures(s, out, scope, day_start(start), day_start(end + dt.timedelta(days=1)))
    else:
        teams = reports._report_teams(actor, team_id, TeamMonth.team_id)
        assert teams is not None and reports._summary_figures(s, out, scope, teams)
    return out


def live_totals(s: Session) -> set[tuple[Any, ...]]:
    """The totals per team, program item and month, from the contacts and the cases as they are now."""
    months = report_summary.computed().subquery()
    keys = (Case.team_id, Case.program_item, months.c.month)
    added = (
        select(*keys, *(func.sum(months.c[name]) for name in report_summary.COUNTS))
        .join(Case, Case.id == months.c.case_id)
        .group_by(*keys)
    )
    return {tuple(row) for row in s.execute(added)}


def stored_totals(s: Session) -> set[tuple[Any, ...]]:
    t = TeamMonth.__table__.c
    return {tuple(row) for row in s.execute(select(*(t[k] for k in (*report_summary.GROUP, *report_summary.COUNTS))))}


def views(
    s: Session, users: list[User], team_ids: list[uuid.UUID]
) -> Iterator[tuple[Any, dt.date, dt.date, uuid.UUID | None]]:
    """Every (actor, period, team) these users can ask the dashboard for: each period of PERIODS,
    the whole municipality and, for those who may read reports, one team."""
    for user in users:
        actor = actor_for(s, s.get(User, user.id))  # type: ignore[arg-type]
        teams: list[uuid.UUID | None] = [None, team_ids[0]] if actor.can(Permission.REPORT_READ) else [None]
        for start, end in PERIODS:
            for team_id in teams:
                yield actor, start, end, team_id


def _compare(db_factory: sessionmaker[Session], users: list[User], team_ids: list[uuid.UUID]) -> None:
    with db_factory() as s, s.begin():
        report_summary.refresh(s)  # committed, so that the next refresh is an incremental one
    with db_factory() as s:
        assert stored_totals(s) == live_totals(s)
        for actor, start, end, team_id in views(s, users, team_ids):
            live = _figures(s, actor, start, end, team_id, live=True)
            assert _figures(s, actor, start, end, team_id, live=False) == live


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=steps)
def test_summary_matches_live_query(
    factory: Factory, db_factory: sessionmaker[Session], script: list[tuple[Any, ...]]
) -> None:
    office = OfficeFactory(db_factory)
    tag = uuid.uuid4().hex[:8]
    w = factory.user(f"w-{tag}", team=TEAMS[0])
    users = [factory.user(f"s-{tag}", role="supervisor", team=TEAMS[0]),
             factory.user(f"c-{tag}", role="coordinator", team=TEAMS[1])]  # fmt: skip
    team_ids = [factory.team(name).id for name in TEAMS]
    # Two cases of the same person (distinct persons are counted, not cases).
    cases = [factory.case(team=TEAMS[i % 2], workers=(w,), identified_on=dt.date(2024, 1 + i, 1)) for i in range(5)]
    with db_factory() as s, s.begin():
        s.execute(update(Case).where(Case.id == cases[4].id).values(person_id=cases[3].person_id))
    cases.append(cases[0])
    originals: list[Contact] = []
    for kind, a, b, hour, outcome, method, basis in script:
        if kind == "contact":
            c = factory.contact(cases[a], w, outcome, occurred_at=_when(b, hour), method=method, sharing_basis=basis,
                                counterpart="NONE")  # fmt: skip
            originals.append(c)
        elif kind == "amend" and originals:
            original = originals[a % len(originals)]
            when = original.occurred_at if b is None else _when(b, hour)
            office.amendment(original, w, outcome, occurred_at=when, method=method,
                             received_at=T0 + dt.timedelta(seconds=len(script) * a + hour))  # fmt: skip
        elif kind in ("move", "item", "close"):
            with db_factory() as s, s.begin():
                row = s.get(Case, cases[a].id)
                assert row is not None
                if kind == "move":
                    row.team_id = team_ids[b]
                elif kind == "item":
                    row.program_item = b
                else:
                    row.status, row.closed_reason, row.closed_on = "closed", "other", dt.date(2025, 9, 1)
        elif kind == "view":
            _compare(db_factory, users, team_ids)
        elif kind == "refresh":  # as the runner's pass: the changes so far, the totals checked (cheap)
            with db_factory() as s, s.begin():
                report_summary.refresh(s)
            with db_factory() as s:
                assert stored_totals(s) == live_totals(s)
    _compare(db_factory, users, team_ids)


def test_the_totals_follow_each_change(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    """Refreshed after each change, the totals per team, program item and month equal the live
    contacts added up by the cases' current team and program item: a second contact in a month, a
    correction moving an attempt to another month, a move to another team, a change of program item,
    a closure, a contact in a new month."""
    office = OfficeFactory(db_factory)
    w = factory.user("w-tot", team=TEAMS[0])
    sup = factory.user("s-tot", role="supervisor", team=TEAMS[0])
    team_ids = [factory.team(name).id for name in TEAMS]
    case, other = (factory.case(team=TEAMS[0], workers=(w,)) for _ in range(2))
    factory.contact(other, w, "MET_PERSON", occurred_at=_when(50, 0))
    seen: list[int] = []

    def check() -> None:
        with db_factory() as s, s.begin():
            seen.append(report_summary.refresh(s))
        with db_factory() as s:
            assert stored_totals(s) == live_totals(s)
            for actor, start, end, team_id in views(s, [sup], team_ids):
                assert _figures(s, actor, start, end, team_id, live=False) == _figures(
                    s, actor, start, end, team_id, live=True
                )

    first = factory.contact(case, w, "MET_PERSON", occurred_at=_when(100, 0))
    check()
    factory.contact(case, w, "NO_ANSWER", occurred_at=_when(101, 0))  # the same month again
    check()
    office.amendment(first, w, "MET_FAMILY_ONLY", occurred_at=_when(200, 0), received_at=T0)  # to another month
    check()
    for change in ("move", "item", "close"):
        with db_factory() as s, s.begin():
            row = s.get(Case, case.id)
            assert row is not None
            if change == "move":
                row.team_id = team_ids[1]
            elif change == "item":
                row.program_item = 3
            else:
                row.status, row.closed_reason, row.closed_on = "closed", "other", dt.date(2025, 9, 1)
        check()
    factory.contact(case, w, "MET_PERSON", occurred_at=_when(400, 15))  # a new month
    check()
    # Incremental refreshes that each recomputed the case, but after the closure (which changes
    # neither the case's contacts nor its team or program item).
    assert seen[0] == -1 and seen[5] == 0 and all(n >= 1 for n in (*seen[1:5], seen[6]))


def test_every_method_has_its_column() -> None:
    columns = set(ContactMonth.__table__.columns.keys())
    assert {method_column(m) for m in CONTACT_METHODS} <= columns


def test_rebuilt_without_a_watermark(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    w = factory.user("w1")
    sup = factory.user("s1", role="supervisor")
    case = factory.case(workers=(w,))
    factory.contact(case, w, "MET_PERSON", occurred_at=dt.datetime(2025, 5, 1, 1, tzinfo=dt.UTC))
    with db_factory() as s, s.begin():
        assert report_summary.refresh(s) == -1  # never built: from every contact
        assert report_summary.refresh(s) == 0
    factory.contact(case, w, "NO_ANSWER", occurred_at=dt.datetime(2025, 6, 1, 1, tzinfo=dt.UTC))
    with db_factory() as s, s.begin():
        assert report_summary.refresh(s) == 1  # the one case that received a contact
        report_summary.forget(s)
    with db_factory() as s:
        actor = actor_for(s, s.get(User, sup.id))  # type: ignore[arg-type]
        ind = reports.indicators(s, actor, *fiscal_year_range(2025))
        assert ind.contacts_total == 2 and ind.persons_reached == 1
        assert s.scalar(select(func.count()).select_from(ContactMonth)) == 2
        mark = select(DerivedWatermark.seq).where(DerivedWatermark.name == report_summary.NAME)
        assert s.scalar(mark) == s.scalar(select(func.max(Contact.sync_seq)))


def test_an_unaligned_period_reads_the_contacts(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    w = factory.user("w1")
    sup = factory.user("s1", role="supervisor")
    case = factory.case(workers=(w,))
    factory.contact(case, w, "MET_PERSON", occurred_at=dt.datetime(2025, 5, 10, 1, tzinfo=dt.UTC))
    with db_factory() as s:
        actor = actor_for(s, s.get(User, sup.id))  # type: ignore[arg-type]
        ind = reports.indicators(s, actor, dt.date(2025, 5, 10), dt.date(2025, 5, 20))
        assert ind.contacts_total == 1
        mark = select(DerivedWatermark.seq).where(DerivedWatermark.name == report_summary.NAME)
        assert s.scalar(mark) is None  # the summary was not used


def test_two_dashboards_refresh_once(factory: Factory, db_factory: sessionmaker[Session], test_engine: Any) -> None:
    if test_engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time (BEGIN IMMEDIATE in the app)")
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    factory.contact(case, w, "MET_PERSON", occurred_at=dt.datetime(2025, 5, 1, 1, tzinfo=dt.UTC))
    with db_factory() as s, s.begin():
        report_summary.refresh(s)
    factory.contact(case, w, "NO_ANSWER", occurred_at=dt.datetime(2025, 6, 1, 1, tzinfo=dt.UTC))
    results: list[int] = []
    first = db_factory()
    first.begin()
    results.append(report_summary.refresh(first))  # holds the watermark row
    second_done = threading.Event()

    def second() -> None:
        with db_factory() as s, s.begin():
            results.append(report_summary.refresh(s))
        second_done.set()

    t = threading.Thread(target=second)
    t.start()
    assert not second_done.wait(0.5)  # waits for the first dashboard's transaction
    first.commit()
    first.close()
    t.join(10)
    assert results == [1, 0]
    with db_factory() as s:
        assert s.scalar(select(func.sum(ContactMonth.n_none))) == 1
        assert s.scalar(select(func.count()).select_from(ContactMonth)) == 2
        assert s.scalar(select(Team.id).limit(1)) is not None
