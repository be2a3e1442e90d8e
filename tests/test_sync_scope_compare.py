"""The scope comparison of a pull (sync/scope.py `_diff`): both differences — cases entering and
leaving the user's scope — from one statement, for a worker and for a supervisor (whose scope is
the municipality)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from server.db import utcnow
from server.models import CaseAssignment, Team, User
from server.permissions import Actor
from sync import scope
from tests.factories import Factory
from tests.sync_support import Clients, Statements


def _actor(s: Session, username: str) -> Actor:
    user = s.scalars(select(User).where(User.username == username)).one()
    municipality = s.scalars(select(Team.municipality_id).where(Team.id == user.team_id)).one()
    return Actor(user_id=user.id, role=user.role, team_id=user.team_id, municipality_id=municipality)


def test_entering_and_leaving_come_from_one_statement(
    factory: Factory, clients: Clients, app: Any, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    factory.user("s1", role="supervisor")
    kept, leaving = factory.case(workers=(w,)), factory.case(workers=(w,))
    phone, office = clients.phone("w1"), clients.phone("s1")
    phone.sync()
    office.sync()
    entering = factory.case(workers=(w,))
    with db_factory() as s, s.begin():
        s.execute(
            update(CaseAssignment)
            .where(CaseAssignment.case_id == leaving.id, CaseAssignment.user_id == w.id)
            .values(ended_at=utcnow())
        )
    with db_factory() as s:
        assert scope._diff(s, _actor(s, "w1")) == ({entering.id}, {leaving.id})
        assert scope._diff(s, _actor(s, "s1")) == ({entering.id}, set())
    statements = Statements(app)
    answer = phone.pull()
    compared = [q for q in statements.seen if "from sync_visibility" in q and "case_assignment" in q]
    assert len(compared) == 2  # the comparison, and again under the counter's lock to record the flips
    assert {(c["id"], c["op"]) for c in answer["changes"] if c["entity"] == "case"} == {
        (str(entering.id), "put"), (str(leaving.id), "remove"),
    }  # fmt: skip
    assert phone.ids("case") == {str(kept.id), str(entering.id)}
    statements.seen.clear()
    phone.push(phone.mutation("case.update", {"id": str(kept.id), "base_version": 1, "changes": {"next_action": "x"}}))
    phone.pull()  # not up to date, nothing to flip: one comparison
    assert len([q for q in statements.seen if "from sync_visibility" in q and "case_assignment" in q]) == 1
    with db_factory() as s:
        assert scope._diff(s, _actor(s, "w1")) == (set(), set())
