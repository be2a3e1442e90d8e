"""Devices — installations of the field app — and what happens when one is lost.

Threat: a phone left on a train. The phone holds its worker's active cases, encrypted under a data
key that is wrapped twice: under the worker's PIN and under a per-device key that only the server
holds (docs/threat-model.md, "Phone"). This module holds the rules the admin page and the command
line share:

- listing a user's devices (id = the sync `client_id`, last sync, outbox depth);
- revoking one: its sessions and push subscriptions end, the server forgets its wrapping key (so
  the copy of the data key wrapped under it can never be opened again), and from then on every
  request that names the device — signed in or not — is answered 401 `device_revoked` with
  `Clear-Site-Data`, on which the app destroys its keys, IndexedDB and caches. Every step is audited;
- the server-held wrapping key itself: issued once per device, returned only to a signed-in
  session *of that device*, deleted on revocation or when the app wipes itself at sign-out.

The wipe signal works without a session on purpose: revocation deletes the device's sessions, so
the phone's next request is not signed in. The app names its device in the `X-Yorisoi-Device`
header of every API request; a device id is a random UUID that only that installation knows, and
the only effect of the signal is that the requesting browser erases its own data.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Delete, bindparam, delete, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from server.db import utcnow
from server.errors import ApiError
from server.models import Device, PushSubscription, Team, User, UserSession
from server.permissions import Actor, team_scope
from server.services import audit
from server.settings import Settings

HEADER = "X-Yorisoi-Device"
CLEAR_SITE_DATA = {"Clear-Site-Data": '"cache", "storage"'}
KEY_BYTES = 32  # AES-256 key-wrapping key (AES-KW on the phone)
MAX_PIN_FAILURES = 5


@dataclass(frozen=True)
class Listed:
    device: Device
    user: User


@dataclass(frozen=True)
class Revoked:
    device: Device
    sessions_ended: int
    subscriptions_ended: int


# ---- listing and revoking ----


def _user_in_scope(session: Session, actor: Actor | None, user: User) -> bool:
    """The command line (actor None) sees every user; an admin the users of their municipality."""
    if actor is None:
        return True
    return session.scalar(select(Team.id).where(Team.id == user.team_id, team_scope(actor))) is not None


def find_user(session: Session, actor: Actor | None, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not _user_in_scope(session, actor, user):
        raise ApiError(404, "user_not_found", field="username")
    return user


def list_devices(session: Session, actor: Actor | None, user: User | None = None) -> list[Listed]:
    """Devices of one user, or of every user the actor may administer; newest sync first."""
    stmt = select(Device, User).join(User, User.id == Device.user_id)
    if user is not None:
        stmt = stmt.where(Device.user_id == user.id)
    if actor is not None:
        stmt = stmt.join(Team, Team.id == User.team_id).where(team_scope(actor))
    stmt = stmt.order_by(User.username, Device.revoked_at.is_not(None), Device.last_sync_at.desc(), Device.created_at)
    return [Listed(device=d, user=u) for d, u in session.execute(stmt)]


def parse_device_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw.strip())
    except ValueError as exc:
        raise ApiError(404, "device_not_found", field="device_id") from exc


def get_device(session: Session, actor: Actor | None, device_id: uuid.UUID, *, lock: bool = False) -> Device:
    stmt = select(Device).where(Device.id == device_id)
    if lock:
        stmt = stmt.with_for_update()
    device = session.scalar(stmt)
    if device is None:
        raise ApiError(404, "device_not_found", field="device_id")
    user = session.get(User, device.user_id)
    if user is None or not _user_in_scope(session, actor, user):
        raise ApiError(404, "device_not_found", field="device_id")
    return device


def revoke(session: Session, actor: Actor | None, device_id: uuid.UUID) -> Revoked:
    """Revoke a device (remote wipe at its next contact). Refuses a device already revoked."""
    device = get_device(session, actor, device_id, lock=True)
    if device.revoked_at is not None:
        raise ApiError(409, "device_already_revoked", field="device_id")
    device.revoked_at = utcnow()
    device.revoked_by = actor.user_id if actor is not None else None
    device.wrapping_key = None
    sessions = _deleted(session, delete(UserSession).where(UserSession.device_id == device.id))
    subscriptions = _deleted(session, delete(PushSubscription).where(PushSubscription.device_id == device.id))
    session.flush()
    audit.record(
        session, actor, "device.revoke", entity="device", entity_id=device.id, device_id=device.id,
        detail=f"sessions={sessions} push={subscriptions} by={'admin' if actor else 'cli'}",
    )  # fmt: skip
    return Revoked(device=device, sessions_ended=sessions, subscriptions_ended=subscriptions)


def _deleted(session: Session, statement: Delete) -> int:
    result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
    return int(result.rowcount or 0)


# ---- the wipe signal ----


def named_device(header: str | None) -> uuid.UUID | None:
    """The device id an `X-Yorisoi-Device` header names (None when absent or not a UUID)."""
    if not header:
        return None
    try:
        return uuid.UUID(header.strip())
    except ValueError:
        return None


# The device bound as `device_id` when it is revoked, else NULL. Built once: the session lookup
# reads it as a column of its own statement (server/services/auth.py `identify`).
REVOKED_ID = (
    select(Device.id).where(Device.id == bindparam("device_id"), Device.revoked_at.is_not(None)).scalar_subquery()
)
_REVOKED = select(REVOKED_ID)


def revoked_device(session: Session, header: str | None) -> uuid.UUID | None:
    """The device a request names in `X-Yorisoi-Device`, when that device is revoked."""
    device_id = named_device(header)
    if device_id is None:
        return None
    found: uuid.UUID | None = session.scalar(_REVOKED, {"device_id": device_id})
    return found


def revoked_error() -> ApiError:
    return ApiError(401, "device_revoked", headers=CLEAR_SITE_DATA)


def record_wipe_signal(session: Session, actor: Actor | None, device_id: uuid.UUID) -> None:
    """Audited in its own transaction (the refused request's is rolled back)."""
    audit.record(
        session, actor, "device.wipe_signalled", entity="device", entity_id=device_id, device_id=device_id,
        outcome="denied",
    )  # fmt: skip


# ---- the server-held wrapping key ----


def _check_asker(actor: Actor, device: Device, header: str | None) -> None:
    """Only a session signed in *on this device*, asking as this device, gets its key."""
    if actor.device_id is None or actor.device_id != device.id:
        raise ApiError(403, "device_mismatch", field="device_id")
    if header is None or header.strip().lower() != str(device.id):
        raise ApiError(403, "device_mismatch", field="device_id")


def issue_key(session: Session, actor: Actor, device: Device, header: str | None) -> bytes:
    """The device's wrapping key, made on first use. Never replaced while it exists: the phone's
    data key is wrapped under it, and a new one would orphan that copy."""
    _check_asker(actor, device, header)
    key, action = device.wrapping_key, "device.key_read"
    if key is None:
        key, action = secrets.token_bytes(KEY_BYTES), "device.key_issued"
        device.wrapping_key = key
    audit.record(session, actor, action, entity="device", entity_id=device.id, device_id=device.id)
    return key


def read_key(session: Session, actor: Actor, device: Device, header: str | None) -> bytes:
    """The existing key (recovery after a forgotten PIN, the offline limit); 404 when there is none."""
    _check_asker(actor, device, header)
    if device.wrapping_key is None:
        raise ApiError(404, "device_key_missing")
    audit.record(session, actor, "device.key_read", entity="device", entity_id=device.id, device_id=device.id)
    return device.wrapping_key


def forget_key(session: Session, actor: Actor, device: Device, header: str | None) -> None:
    """The app wiped itself at sign-out: the server half is of no further use."""
    _check_asker(actor, device, header)
    device.wrapping_key = None
    audit.record(session, actor, "device.key_deleted", entity="device", entity_id=device.id, device_id=device.id)


def lock_policy(settings: Settings) -> dict[str, int]:
    """What the app enforces while it is offline, sent with the key and kept on the phone."""
    return {
        "idle_lock_seconds": settings.device_idle_lock_minutes * 60,
        "background_lock_seconds": settings.device_background_lock_seconds,
        "offline_days": settings.device_offline_days,
        "max_pin_failures": MAX_PIN_FAILURES,
    }
