"""The one definition of who sees which case."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.db import utcnow
from server.errors import ApiError
from server.models import Case, CaseAssignment
from server.permissions import Permission, case_scope, get_case
from server.services.auth import actor_for
from tests.factories import Factory


def visible(db: Session, user) -> set:  # type: ignore[no-untyped-def]
    actor = actor_for(db, user)
    return set(db.scalars(select(Case.id).where(case_scope(actor))))


def test_scopes_by_role(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    w1 = factory.user("w1", team="北部班")
    w2 = factory.user("w2", team="北部班")
    coord = factory.user("c1", role="coordinator", team="北部班")
    sup = factory.user("s1", role="supervisor", team="南部班")
    admin = factory.user("a1", role="admin", team="北部班")
    other_city = factory.user("s9", role="supervisor", team="隣町班", municipality="隣町")
    mine = factory.case(team="北部班", workers=(w1,))
    theirs = factory.case(team="北部班", workers=(w2,))
    south = factory.case(team="南部班")
    with db_factory() as db:
        assert visible(db, w1) == {mine.id}
        assert visible(db, coord) == {mine.id, theirs.id}
        assert visible(db, sup) == {mine.id, theirs.id, south.id}
        assert visible(db, admin) == set()
        assert visible(db, other_city) == set()


def test_ended_assignment_leaves_scope_and_out_of_scope_is_404(
    factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    w1 = factory.user("w1")
    case = factory.case(workers=(w1,))
    with db_factory() as db, db.begin():
        a = db.scalars(select(CaseAssignment)).one()
        a.ended_at = utcnow() - dt.timedelta(minutes=1)
    with db_factory() as db:
        actor = actor_for(db, w1)
        with pytest.raises(ApiError) as exc:
            get_case(db, actor, case.id, Permission.CASE_READ)
        assert exc.value.status == 404


def test_admin_has_no_case_permission(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    admin = factory.user("a1", role="admin")
    case = factory.case()
    with db_factory() as db:
        actor = actor_for(db, admin)
        assert not actor.can(Permission.CASE_READ)
        with pytest.raises(ApiError) as exc:
            get_case(db, actor, case.id, Permission.CASE_READ)
        assert exc.value.status == 404
