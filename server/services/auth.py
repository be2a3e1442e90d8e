"""Sign-in, server-side sessions and sign-out.

Threats: session fixation (a fresh random 256-bit id at every sign-in), stolen database rows
(only the SHA-256 of a session token is stored), user enumeration (unknown users and wrong
passwords take the same path and time and give the same answer), password guessing (throttling).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from server.db import utcnow
from server.errors import ApiError
from server.models import Team, User, UserSession
from server.permissions import Actor
from server.security import passwords, throttle
from server.services import audit, devices, totp
from server.settings import Settings

TOUCH_INTERVAL = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class SignedIn:
    user: User
    token: str
    actor: Actor


def _hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def actor_for(session: Session, user: User, device_id: uuid.UUID | None = None, sid: bytes | None = None) -> Actor:
    municipality_id = session.scalar(select(Team.municipality_id).where(Team.id == user.team_id))
    if municipality_id is None:
        raise LookupError("user's team has no municipality")
    return Actor(
        user_id=user.id,
        role=user.role,
        team_id=user.team_id,
        municipality_id=municipality_id,
        device_id=device_id,
        session_id=sid,
    )


def check_throttle(session: Session, username: str, address: str) -> None:
    wait = throttle.retry_after(session, throttle.keys_for(username, address))
    if wait > 0:
        raise ApiError(429, "too_many_attempts", headers={"Retry-After": str(wait)})


def record_failure(session: Session, settings: Settings, username: str, address: str) -> None:
    """Count a failed sign-in. Runs in its own transaction so it survives the failed request."""
    ukey, akey = throttle.keys_for(username, address)
    throttle.register_failure(session, ukey, settings.login_max_failures, settings.login_lock_seconds)
    throttle.register_failure(
        session, akey, settings.login_max_failures * throttle.ADDRESS_FACTOR, settings.login_lock_seconds
    )
    audit.record(session, None, "session.login_failed", outcome="failed", detail="invalid_credentials")


def verify_credentials(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)  # onto the current parameters, once
    return user


def check_second_factor(session: Session, user: User, code: str | None) -> None:
    """Raise unless the user's second factor is satisfied (or the user has none and needs none)."""
    if user.totp_secret is None:
        if totp.required_for(user):
            raise ApiError(401, "totp_enrolment_required")
        return
    if not code:
        raise ApiError(401, "totp_required")
    session.refresh(user, with_for_update=True)  # two sign-ins racing with one code: only one wins
    if not totp.verify(session, user, code):
        raise ApiError(401, "totp_invalid")


def start_session(
    session: Session,
    settings: Settings,
    user: User,
    address: str,
    device_id: uuid.UUID | None = None,
) -> SignedIn:
    token = secrets.token_urlsafe(32)  # 256 bits
    sid = _hash_token(token)
    now = utcnow()
    session.add(
        UserSession(
            id=sid,
            user_id=user.id,
            device_id=device_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + dt.timedelta(hours=settings.session_absolute_hours),
        )
    )
    throttle.clear(session, throttle.keys_for(user.username, address)[0])
    actor = actor_for(session, user, device_id, sid)
    audit.record(session, actor, "session.login", entity="user", entity_id=user.id)
    return SignedIn(user=user, token=token, actor=actor)


# Built once (their SQL is cached by SQLAlchemy, and a statement object built once does not
# compute its cache key again on every request): the session, its user and the user's municipality;
# the same with whether the device the request names is revoked.
_SESSION = (
    select(UserSession, User, Team.municipality_id)
    .join(User, User.id == UserSession.user_id)
    .join(Team, Team.id == User.team_id)
    .where(UserSession.id == bindparam("sid"))
)
_SESSION_NAMING_DEVICE = _SESSION.add_columns(devices.REVOKED_ID)


def resolve(session: Session, settings: Settings, token: str | None) -> tuple[User, Actor] | None:
    """The user and actor behind a session cookie, or None when it is missing, expired or ended."""
    return identify(session, settings, token, None)[0]


def identify(
    session: Session, settings: Settings, token: str | None, device_header: str | None
) -> tuple[tuple[User, Actor] | None, uuid.UUID | None]:
    """`resolve` the session cookie, and the device named in `X-Yorisoi-Device` when it is revoked
    (`devices.revoked_device`).

    Every signed-in request comes through here first, so the session, its user, the user's
    municipality and — the app names its device on every request — whether that device is revoked
    are read in one query (they were four round trips)."""
    named = devices.named_device(device_header)
    if not token:
        return None, devices.revoked_device(session, device_header) if named is not None else None
    sid = _hash_token(token)
    if named is None:
        found = session.execute(_SESSION, {"sid": sid}).one_or_none()
    else:
        found = session.execute(_SESSION_NAMING_DEVICE, {"sid": sid, "device_id": named}).one_or_none()
    if found is None:
        return None, devices.revoked_device(session, device_header) if named is not None else None
    row, user, municipality_id = found[0], found[1], found[2]
    revoked: uuid.UUID | None = found[-1] if named is not None else None  # the named device, when revoked
    now = utcnow()
    idle = dt.timedelta(minutes=settings.session_idle_minutes)
    if row.expires_at <= now or row.last_seen_at + idle <= now:
        session.delete(row)
        return None, revoked
    if not user.is_active:
        return None, revoked
    if now - row.last_seen_at > TOUCH_INTERVAL:
        row.last_seen_at = now
    actor = Actor(
        user_id=user.id,
        role=user.role,
        team_id=user.team_id,
        municipality_id=municipality_id,
        device_id=row.device_id,
        session_id=sid,
    )
    return (user, actor), revoked


def end_session(session: Session, actor: Actor) -> None:
    if actor.session_id is not None:
        session.execute(delete(UserSession).where(UserSession.id == actor.session_id))
    audit.record(session, actor, "session.logout", entity="user", entity_id=actor.user_id)


def end_all_sessions(session: Session, user_id: uuid.UUID) -> None:
    session.execute(delete(UserSession).where(UserSession.user_id == user_id))
