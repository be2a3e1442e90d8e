"""Who sees an alert, and who is told about it.

- *Visible* (the alert list, `GET /api/alerts`, the pages): a worker sees the alerts of the cases
  assigned to them and the 端末が未同期 alerts about themselves; a coordinator the team's; a supervisor
  the municipality's. Admins see none (no case content).
- *Responsible* (who gets pushed, and what a push counts): the team's coordinators; the supervisors
  of the municipality once an alert is escalated; the worker for 端末が未同期 about their own phone.
  Workers get no pushes about cases: alerts must never read as blame.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import Session

from server.models import Alert, CaseAssignment, Team, User
from server.permissions import Actor
from server.vocab import Role

DEVICE_RULE = "DEVICE_UNSYNCED"
URGENT_RULE = "R"


def _municipality_teams(municipality_id: uuid.UUID) -> ColumnElement[bool]:
    return Alert.team_id.in_(select(Team.id).where(Team.municipality_id == municipality_id))


def visible(actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause over `Alert`: the alerts this actor may list and open."""
    if actor.role == Role.WORKER:
        assigned = select(CaseAssignment.case_id).where(
            CaseAssignment.user_id == actor.user_id, CaseAssignment.ended_at.is_(None)
        )
        return or_(Alert.case_id.in_(assigned), Alert.subject_user_id == actor.user_id)
    if actor.role == Role.COORDINATOR:
        return Alert.team_id == actor.team_id
    if actor.role == Role.SUPERVISOR:
        return _municipality_teams(actor.municipality_id)
    return false()


def responsible(role: str, user_id: uuid.UUID, team_id: uuid.UUID, municipality_id: uuid.UUID) -> ColumnElement[bool]:
    """A WHERE clause over `Alert`: the alerts a push to this user counts."""
    if role == Role.COORDINATOR:
        return Alert.team_id == team_id
    if role == Role.SUPERVISOR:
        return and_(_municipality_teams(municipality_id), Alert.escalated_at.is_not(None))
    if role == Role.WORKER:
        return and_(Alert.rule == DEVICE_RULE, Alert.subject_user_id == user_id)
    return false()


def recipients(
    session: Session, team_id: uuid.UUID, *, coordinators: bool, supervisors: bool
) -> list[uuid.UUID]:
    """Active coordinators of the team and/or supervisors of its municipality."""
    if not coordinators and not supervisors:
        return []
    municipality = select(Team.municipality_id).where(Team.id == team_id).scalar_subquery()
    clauses = []
    if coordinators:
        clauses.append(and_(User.role == Role.COORDINATOR, User.team_id == team_id))
    if supervisors:
        teams = select(Team.id).where(Team.municipality_id == municipality)
        clauses.append(and_(User.role == Role.SUPERVISOR, User.team_id.in_(teams)))
    return list(session.scalars(select(User.id).where(User.is_active.is_(True), or_(*clauses))))
