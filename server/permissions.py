"""Authorization, in one place. Every view, page and sync mutation asks here.

Threat: a signed-in user reading or changing case data outside their duty (least privilege,
DOMAIN.md §2). Scopes: a worker sees the cases they are currently assigned to; a coordinator the
team's cases; a supervisor every case of the municipality; an admin no case content at all.
A case outside the actor's scope answers 404, so its existence is not revealed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, false, select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import Case, CaseAssignment, Team
from server.vocab import CaseStatus, Role


class Permission(StrEnum):
    PUBLIC = "public"  # no sign-in needed (sign-in itself, the app shell, the push key)
    SIGNED_IN = "signed_in"  # any signed-in user, about themselves (session, settings, own devices)
    CASE_READ = "case.read"
    CASE_WRITE = "case.write"  # contacts, milestones, consents, next action, new cases
    CASE_ASSIGN = "case.assign"
    CASE_REVIEW = "case.review"  # review comments, settling conflicts
    SYNC = "sync"
    ALERT_READ = "alert.read"
    ALERT_ACK = "alert.ack"
    REPORT_READ = "report.read"  # municipality-wide figures and exports
    TEAM_REPORT_READ = "report.team"  # the dashboard with the own team's figures (no municipal exports)
    USER_ADMIN = "user.admin"
    DEVICE_ADMIN = "device.admin"
    AUDIT_READ = "audit.read"
    SETTINGS_ADMIN = "settings.admin"


_CASE_WORK = {
    Permission.SIGNED_IN,
    Permission.CASE_READ,
    Permission.CASE_WRITE,
    Permission.SYNC,
    Permission.ALERT_READ,
    Permission.ALERT_ACK,
}

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    Role.WORKER: frozenset(_CASE_WORK),
    Role.COORDINATOR: frozenset(
        _CASE_WORK | {Permission.CASE_ASSIGN, Permission.CASE_REVIEW, Permission.TEAM_REPORT_READ}
    ),
    Role.SUPERVISOR: frozenset(
        _CASE_WORK
        | {Permission.CASE_ASSIGN, Permission.CASE_REVIEW, Permission.REPORT_READ, Permission.TEAM_REPORT_READ}
    ),
    Role.ADMIN: frozenset(
        {
            Permission.SIGNED_IN,
            Permission.USER_ADMIN,
            Permission.DEVICE_ADMIN,
            Permission.AUDIT_READ,
            Permission.SETTINGS_ADMIN,
        }
    ),
}


@dataclass(frozen=True)
class Actor:
    """Who is acting: the signed-in user, and the device (app installation) they act from."""

    user_id: uuid.UUID
    role: str
    team_id: uuid.UUID
    municipality_id: uuid.UUID
    device_id: uuid.UUID | None = None
    session_id: bytes | None = None

    def can(self, permission: Permission) -> bool:
        return permission is Permission.PUBLIC or permission in ROLE_PERMISSIONS.get(self.role, frozenset())


def require(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission):
        raise ApiError(403, "forbidden")


def case_scope(actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause over `Case` selecting exactly the cases this actor may see."""
    if actor.role == Role.WORKER:
        assigned = select(CaseAssignment.case_id).where(
            CaseAssignment.user_id == actor.user_id, CaseAssignment.ended_at.is_(None)
        )
        return Case.id.in_(assigned)
    if actor.role == Role.COORDINATOR:
        return Case.team_id == actor.team_id
    if actor.role == Role.SUPERVISOR:
        teams = select(Team.id).where(Team.municipality_id == actor.municipality_id)
        return Case.team_id.in_(teams)
    return false()


def sync_case_scope(actor: Actor) -> ColumnElement[bool]:
    """The cases the field app holds for this actor: `case_scope`, except that a worker's phone
    carries only active (not closed) cases — the less a lost phone holds, the less leaks
    (DOMAIN.md §6). Writing to a closed assigned case is still authorised by `case_scope`."""
    scope = case_scope(actor)
    if actor.role == Role.WORKER:
        return and_(scope, Case.status != CaseStatus.CLOSED)
    return scope


def case_in_scope(session: Session, actor: Actor, case_id: uuid.UUID) -> bool:
    found = session.scalar(select(Case.id).where(Case.id == case_id, case_scope(actor)))
    return found is not None


def get_case(session: Session, actor: Actor, case_id: uuid.UUID, permission: Permission) -> Case:
    """The case, if the actor holds `permission` and the case is in their scope; otherwise 404."""
    if not actor.can(permission):
        raise ApiError(404, "not_found")
    case = session.scalar(select(Case).where(Case.id == case_id, case_scope(actor)))
    if case is None:
        raise ApiError(404, "not_found")
    return case


def team_scope(actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause over `Team`: the teams whose people and figures the actor may see."""
    if actor.role == Role.SUPERVISOR or actor.role == Role.ADMIN:
        return Team.municipality_id == actor.municipality_id
    return Team.id == actor.team_id
