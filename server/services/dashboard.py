"""The supervisor's (and a coordinator's team) overview: live alerts by level and by rule, caseload per
worker, and workers whose phones have not synced for a while. Counts only — no person appears here —
and each figure is one grouped query.

Until the stall-rule engine lands, "stalled cases by rule" counts the live Alert rows by rule.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from server.errors import ApiError
from server.models import Alert, Case, CaseAssignment, Device, Team, User
from server.permissions import Actor, Permission, team_scope
from server.vocab import ALERT_LEVELS, ALERT_RULES, AlertState, CaseStatus, Role

DEFAULT_UNSYNCED_DAYS = 3


@dataclass(frozen=True)
class Caseload:
    user_id: uuid.UUID
    name: str
    team: str
    role: str
    primary: int
    total: int


@dataclass(frozen=True)
class Unsynced:
    user_id: uuid.UUID
    name: str
    team: str
    last_sync_at: dt.datetime | None
    outbox_depth: int
    devices: int


@dataclass
class Overview:
    alerts_by_level: dict[str, int]
    alerts_by_rule: dict[str, int]
    caseload: list[Caseload]
    unsynced: list[Unsynced]
    unsynced_days: int


def dashboard_teams(actor: Actor, team_id: uuid.UUID | None = None) -> ColumnElement[bool]:
    """A WHERE clause over Team: the municipality's teams for a supervisor, the own team for a
    coordinator; optionally one of them."""
    if actor.can(Permission.REPORT_READ):
        scope = team_scope(actor)
    elif actor.can(Permission.TEAM_REPORT_READ):
        scope = Team.id == actor.team_id
    else:
        raise ApiError(403, "forbidden")
    return and_(scope, Team.id == team_id) if team_id is not None else scope


def overview(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    team_id: uuid.UUID | None = None,
    unsynced_days: int = DEFAULT_UNSYNCED_DAYS,
) -> Overview:
    teams = select(Team.id).where(dashboard_teams(actor, team_id))
    live = and_(Alert.team_id.in_(teams), Alert.state != AlertState.RESOLVED)
    by_level = {
        lvl: int(n) for lvl, n in session.execute(select(Alert.level, func.count()).where(live).group_by(Alert.level))
    }
    by_rule = {
        r: int(n) for r, n in session.execute(select(Alert.rule, func.count()).where(live).group_by(Alert.rule))
    }

    # The open assignments of cases not closed. Asked as "not one of the closed cases" (a few hundred,
    # read once through the status index) rather than by joining every assignment to its case:
    # SQLite looked up each of the 12,000 assignments' cases (two seeks each, 25 ms of the page).
    # The same rows: every assignment has its case (foreign key) and a case's status is never NULL.
    closed = select(Case.id).where(Case.status == CaseStatus.CLOSED)
    load = (
        select(
            CaseAssignment.user_id,
            func.count().label("total"),
            func.sum(case((CaseAssignment.is_primary, 1), else_=0)).label("primary"),
        )
        .where(CaseAssignment.ended_at.is_(None), CaseAssignment.case_id.not_in(closed))
        .group_by(CaseAssignment.user_id)
        .subquery()
    )
    caseload = [
        Caseload(uid, name, team, role, int(primary or 0), int(total or 0))
        for uid, name, team, role, primary, total in session.execute(
            select(User.id, User.display_name, Team.name, User.role, load.c.primary, load.c.total)
            .join(Team, Team.id == User.team_id)
            .outerjoin(load, load.c.user_id == User.id)
            .where(Team.id.in_(teams), User.is_active, User.role.in_((Role.WORKER, Role.COORDINATOR)))
            .order_by(func.coalesce(load.c.total, 0).desc(), User.display_name)
        )
    ]

    cutoff = now - dt.timedelta(days=unsynced_days)
    devices = (
        select(
            Device.user_id,
            func.max(Device.last_sync_at).label("last_sync_at"),
            func.max(Device.outbox_depth).label("outbox"),
            func.count().label("devices"),
        )
        .where(Device.revoked_at.is_(None))
        .group_by(Device.user_id)
        .subquery()
    )
    unsynced = [
        Unsynced(uid, name, team, last, int(outbox or 0), int(count))
        for uid, name, team, last, outbox, count in session.execute(
            select(User.id, User.display_name, Team.name, devices.c.last_sync_at, devices.c.outbox, devices.c.devices)
            .join(Team, Team.id == User.team_id)
            .join(devices, devices.c.user_id == User.id)
            .where(Team.id.in_(teams), User.is_active, User.role == Role.WORKER)
            .where((devices.c.last_sync_at.is_(None)) | (devices.c.last_sync_at < cutoff))
            .order_by(devices.c.last_sync_at.asc().nulls_first(), User.display_name)
        )
    ]
    return Overview(
        alerts_by_level={lvl: by_level.get(lvl, 0) for lvl in ALERT_LEVELS},
        alerts_by_rule={r: by_rule.get(r, 0) for r in ALERT_RULES},
        caseload=caseload,
        unsynced=unsynced,
        unsynced_days=unsynced_days,
    )

