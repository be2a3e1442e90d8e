"""The dashboard's caseload (services/dashboard.py `overview`): per worker, the open assignments of
cases that are not closed, and how many of them are primary. It asks for "not one of the closed
cases" instead of joining each assignment to its case; these tests hold it to the join's answer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from server.db import utcnow
from server.models import Case, CaseAssignment, User
from server.services import dashboard
from server.services.auth import actor_for
from server.vocab import CaseStatus
from tests.factories import Factory


def _by_join(s: Session) -> dict[uuid.UUID, tuple[int, int]]:
    """The former statement: every open assignment joined to its case (primary, total) per user."""
    rows = s.execute(
        select(CaseAssignment.user_id, func.sum(case((CaseAssignment.is_primary, 1), else_=0)), func.count())
        .join(Case, Case.id == CaseAssignment.case_id)
        .where(CaseAssignment.ended_at.is_(None), Case.status != CaseStatus.CLOSED)
        .group_by(CaseAssignment.user_id)
    )
    return {uid: (int(primary), int(total)) for uid, primary, total in rows}


def test_caseload_counts_open_assignments_of_cases_not_closed(
    factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    sup = factory.user("sup", role="supervisor")
    a, b = factory.user("wa"), factory.user("wb")
    idle = factory.user("idle")
    factory.user("other-team", team="南部班")
    factory.case(workers=(a, b))  # a primary, b second
    factory.case(workers=(b,), status="watching")  # b primary
    factory.case(workers=(a, b), status="closed", closed_reason="moved", closed_on=dt.date(2025, 6, 1))
    ended = factory.case(workers=(a,))
    with db_factory() as s, s.begin():
        s.execute(update(CaseAssignment).where(CaseAssignment.case_id == ended.id).values(ended_at=utcnow()))
    with db_factory() as s:
        ov = dashboard.overview(s, actor_for(s, s.get(User, sup.id)), utcnow())  # type: ignore[arg-type]
        got = {c.user_id: (c.primary, c.total) for c in ov.caseload}
        assert got[a.id] == (1, 1)
        assert got[b.id] == (1, 2)
        assert got[idle.id] == (0, 0)
        assert {uid: v for uid, v in got.items() if v != (0, 0)} == _by_join(s)


def test_caseload_equals_the_join_over_random_assignments(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    sup = factory.user("sup2", role="supervisor")
    workers = [factory.user(f"w{i}") for i in range(4)]
    statuses = ["open", "watching", "closed"]
    for i in range(24):
        chosen = tuple(workers[(i + k) % 4] for k in range(1 + i % 3))
        extra: dict[str, Any] = {}
        if statuses[i % 3] == "closed":
            extra = {"closed_reason": "moved", "closed_on": dt.date(2025, 6, 1)}
        c = factory.case(workers=chosen, status=statuses[i % 3], **extra)
        if i % 5 == 0:
            with db_factory() as s, s.begin():
                first = s.scalars(select(CaseAssignment.id).where(CaseAssignment.case_id == c.id)).first()
                s.execute(update(CaseAssignment).where(CaseAssignment.id == first).values(ended_at=utcnow()))
    with db_factory() as s:
        ov = dashboard.overview(s, actor_for(s, s.get(User, sup.id)), utcnow())  # type: ignore[arg-type]
        got = {c.user_id: (c.primary, c.total) for c in ov.caseload if c.total}
        assert got == _by_join(s)
        assert sum(t for _p, t in got.values()) > 0
