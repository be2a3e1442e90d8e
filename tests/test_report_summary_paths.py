"""The two ways of reading the dashboard's summary (services/reports.py): `_summary_rows_pg` (one
statement: the totals' sums by month and a CTE aggregated by case, distinct persons counted by the
database) and
`_summary_rows_sqlite` (two statements, distinct persons counted in Python) give the same rows, on
either engine (each engine uses one of them; both are plain SQL both engines run); and the figures
equal the live query's. tests/test_report_summary.py checks the engine's own path against the live
query over random scripts."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from server.models import Case, TeamMonth
from server.services import report_summary, reports
from server.services.derived import day_start
from server.vocab import CONTACT_METHODS, OUTCOMES, SHARING_BASES
from tests.factories import Factory
from tests.factories_office import OfficeFactory
from tests.test_report_summary import views


def _rows(s: Session, how: Any, actor: Any, start: dt.date, end: dt.date, team_id: uuid.UUID | None) -> Any:
    scope = reports.report_scope(actor, team_id)
    teams = reports._report_teams(actor, team_id, TeamMonth.team_id)
    assert teams is not None
    months = reports._months(start, end)
    by_month, in_period = reports._by_month(teams, months), reports._in_period(scope, months)
    found = how(s, by_month, in_period, day_start(start), day_start(end + dt.timedelta(days=1)))
    if found is None:
        return None
    sums, persons, firsts = found
    return sorted(tuple(int(v) if isinstance(v, int) else v for v in row) for row in sums), persons, sorted(firsts)


def test_both_ways_read_the_same_rows(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    rng = random.Random(20261127)
    office = OfficeFactory(db_factory)
    w = factory.user("w-paths", team="北部班")
    users = [factory.user("s-paths", role="supervisor"), factory.user("c-paths", role="coordinator", team="南部班")]
    team_ids = [factory.team("北部班").id, factory.team("南部班").id]
    cases = [factory.case(team=("北部班", "南部班")[i % 2], workers=(w,), identified_on=dt.date(2024, 1 + i, 1))
             for i in range(6)]  # fmt: skip
    with db_factory() as s, s.begin():  # two cases of one person: persons are counted, not cases
        s.execute(update(Case).where(Case.id == cases[5].id).values(person_id=cases[4].person_id))
    originals = []
    t0 = dt.datetime(2024, 3, 20, tzinfo=dt.UTC)  # 年度 2024 and 2025 and their edges
    for _ in range(60):
        when = t0 + dt.timedelta(days=rng.randint(0, 760), hours=rng.choice((0, 15)))
        outcome, method, basis = rng.choice(sorted(OUTCOMES)), rng.choice(CONTACT_METHODS), rng.choice(SHARING_BASES)
        c = factory.contact(rng.choice(cases), w, outcome, occurred_at=when, method=method, sharing_basis=basis,
                            counterpart="NONE")  # fmt: skip
        originals.append(c)
    for i, original in enumerate(rng.sample(originals, 12)):  # corrections, some moving the day
        when = original.occurred_at + dt.timedelta(days=rng.choice((0, 0, 20, -40)))
        office.amendment(original, w, rng.choice(sorted(OUTCOMES)), occurred_at=when,
                         received_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=i))  # fmt: skip
    with db_factory() as s, s.begin():
        report_summary.refresh(s)
    compared = 0
    with db_factory() as s:
        for actor, start, end, team_id in views(s, users, team_ids):
            one = _rows(s, reports._summary_rows_pg, actor, start, end, team_id)
            two = _rows(s, reports._summary_rows_sqlite, actor, start, end, team_id)
            assert one == two
            compared += one is not None and bool(one[0])
            live, kept = (reports.Indicators(start=start, end=end) for _ in range(2))
            scope = reports.report_scope(actor, team_id)
            reports._contact_figures(s, live, scope, day_start(start), day_start(end + dt.timedelta(days=1)))
            teams = reports._report_teams(actor, team_id, TeamMonth.team_id)
            assert teams is not None and reports._summary_figures(s, kept, scope, teams)
            assert kept == live
    assert compared >= 10  # periods with rows, not only empty ones
