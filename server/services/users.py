"""Users and teams: creation, disabling."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import Organisation, Team, User
from server.permissions import Actor
from server.security import passwords
from server.services import audit, auth
from server.vocab import OrgKind, Role

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
DEFAULT_MUNICIPALITY = "市町村"


def get_or_create_team(session: Session, name: str) -> Team:
    team = session.scalar(select(Team).where(Team.name == name))
    if team is not None:
        return team
    municipality = session.scalar(
        select(Organisation).where(Organisation.kind == OrgKind.MUNICIPALITY).order_by(Organisation.created_at)
    )
    if municipality is None:
        municipality = Organisation(name=DEFAULT_MUNICIPALITY, kind=OrgKind.MUNICIPALITY)
        session.add(municipality)
        session.flush()
    team = Team(name=name, municipality_id=municipality.id, operator_id=municipality.id)
    session.add(team)
    session.flush()
    return team


def create_user(
    session: Session,
    actor: Actor | None,
    *,
    username: str,
    role: str,
    team_name: str,
    password: str,
    display_name: str | None = None,
) -> User:
    """Create a user (and the team when it does not exist yet). Raises ApiError with a code."""
    if not USERNAME_RE.match(username):
        raise ApiError(422, "invalid_username", field="username")
    if role not in {r.value for r in Role}:
        raise ApiError(422, "invalid_role", field="role")
    if not team_name.strip():
        raise ApiError(422, "invalid_team", field="team")
    try:
        passwords.check_policy(password)
    except passwords.PasswordRejected as exc:
        raise ApiError(422, exc.code, field="password") from exc
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ApiError(409, "username_taken", field="username")
    team = get_or_create_team(session, team_name.strip())
    user = User(
        username=username,
        display_name=display_name or username,
        role=role,
        team_id=team.id,
        password_hash=passwords.hash_password(password),
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", entity="user", entity_id=user.id, fields=["role", "team_id"])
    return user


def set_active(session: Session, actor: Actor | None, user: User, active: bool) -> None:
    """Disable (or re-enable) a user; disabling ends every one of their sessions at once."""
    user.is_active = active
    if not active:
        auth.end_all_sessions(session, user.id)
    audit.record(session, actor, "user.disable" if not active else "user.enable", entity="user", entity_id=user.id)
