"""Assigning workers to a case (primary and others) and ending assignments.

Threat: a coordinator handing a case — and with it the person's record on a phone — to someone outside
their duty. Only holders of CASE_ASSIGN, on a case in their scope, may assign; the assignee must be an
active worker or coordinator of a team the assigner may see (a coordinator: their own team; a
supervisor: the municipality's teams). Assignments are never deleted: ending one stamps `ended_at`, so
who was responsible when stays part of the record.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import utcnow
from server.errors import ApiError
from server.models import Case, CaseAssignment, Team, User
from server.permissions import Actor, Permission, get_case, team_scope
from server.services import audit
from server.vocab import Role

ASSIGNABLE_ROLES = (Role.WORKER, Role.COORDINATOR)


def assignable_staff(session: Session, actor: Actor) -> list[User]:
    if not actor.can(Permission.CASE_ASSIGN):
        return []
    return list(
        session.scalars(
            select(User)
            .join(Team, Team.id == User.team_id)
            .where(team_scope(actor), User.is_active, User.role.in_(ASSIGNABLE_ROLES))
            .order_by(User.display_name)
        )
    )


def _assignee(session: Session, actor: Actor, user_id: uuid.UUID) -> User:
    user = session.scalar(
        select(User)
        .join(Team, Team.id == User.team_id)
        .where(User.id == user_id, team_scope(actor), User.is_active, User.role.in_(ASSIGNABLE_ROLES))
    )
    if user is None:
        raise ApiError(422, "invalid_request", field="user_id")
    return user


def _active(session: Session, case_id: uuid.UUID) -> list[CaseAssignment]:
    return list(
        session.scalars(
            select(CaseAssignment).where(CaseAssignment.case_id == case_id, CaseAssignment.ended_at.is_(None))
        )
    )


def assign(session: Session, actor: Actor, case_id: uuid.UUID, user_id: uuid.UUID, *, primary: bool) -> Case:
    """Put `user_id` on the case, as primary or as another worker. A new primary demotes the previous
    primary to another worker (a new row, so the history shows both periods); assigning someone in
    the role they already hold changes nothing."""
    case = get_case(session, actor, case_id, Permission.CASE_ASSIGN)
    user = _assignee(session, actor, user_id)
    now = utcnow()
    active = _active(session, case.id)
    current = next((a for a in active if a.user_id == user.id), None)
    if current is not None and current.is_primary == primary:
        return case
    changed: list[str] = []
    if primary:
        for a in active:
            if a.is_primary and a.user_id != user.id:
                a.ended_at = now
                session.add(
                    CaseAssignment(
                        case_id=case.id, user_id=a.user_id, is_primary=False, started_at=now, assigned_by=actor.user_id
                    )
                )
                changed.append("is_primary")
    if current is not None:
        current.ended_at = now
    session.add(
        CaseAssignment(case_id=case.id, user_id=user.id, is_primary=primary, started_at=now, assigned_by=actor.user_id)
    )
    audit.record(
        session,
        actor,
        "case.assign",
        entity="case_assignment",
        entity_id=user.id,
        case_id=case.id,
        fields=["user_id", "is_primary", *changed],
    )
    return case


def end(session: Session, actor: Actor, case_id: uuid.UUID, assignment_id: uuid.UUID) -> Case:
    """End an assignment (the row stays, with its end time)."""
    case = get_case(session, actor, case_id, Permission.CASE_ASSIGN)
    row = session.scalar(
        select(CaseAssignment).where(
            CaseAssignment.id == assignment_id, CaseAssignment.case_id == case.id, CaseAssignment.ended_at.is_(None)
        )
    )
    if row is None:
        raise ApiError(404, "not_found")
    row.ended_at = utcnow()
    audit.record(
        session, actor, "case.unassign", entity="case_assignment", entity_id=row.id, case_id=case.id,
        fields=["ended_at"],
    )
    return case
