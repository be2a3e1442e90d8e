"""The sync client behind a request: one installation of the field app, a `Device` row whose id is
the `client_id` the app generated.

Threats: another user's phone replaying or reading as someone else's client (a client belongs to
the user who first used it: anyone else → 403 `device_not_owned`), and a lost phone (a revoked
device → 401 `device_revoked` with `Clear-Site-Data`, on which the app destroys its keys and data).

Concurrency: the device row is locked (SELECT … FOR UPDATE) for the rest of the request. Two
identical pushes racing on PostgreSQL therefore run one after the other, and the second sees the
first's `last_mid`: one effect. It is the first lock a sync request takes (then case rows, the
change counter last), so pulls and pushes of one device cannot deadlock each other.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.db import utcnow
from server.errors import ApiError
from server.models import Device
from server.permissions import Actor
from server.services import audit

CLEAR_SITE_DATA = {"Clear-Site-Data": '"cache", "storage"'}


def claim(session: Session, actor: Actor, client_id: uuid.UUID) -> tuple[Device, bool]:
    """The device row, locked, created for this user on first use (then `True`); refuses revoked
    devices and devices of other users."""
    table: Any = Device.__table__
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # Whether the row is new comes from RETURNING, not `rowcount`: psycopg reports -1 for this
    # statement, which read as "created" on every push and pull on PostgreSQL (a `device.register`
    # audit row each time, so even an up-to-date pull took the audit head's lock).
    created = (
        session.execute(
            insert(table)
            .values(id=client_id, user_id=actor.user_id, last_mid=0, outbox_depth=0, created_at=utcnow(), label="")
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(table.c.id)
        ).first()
        is not None
    )
    locked = select(Device).where(Device.id == client_id).with_for_update(key_share=True)
    device = session.scalars(locked.execution_options(populate_existing=True)).one()
    if device.revoked_at is not None:
        raise ApiError(401, "device_revoked", headers=CLEAR_SITE_DATA)
    if device.user_id != actor.user_id:
        raise ApiError(403, "device_not_owned", field="client_id")
    return device, created


def audit_registration(session: Session, actor: Actor, device: Device) -> None:
    audit.record(session, actor, "device.register", entity="device", entity_id=device.id, device_id=device.id)


def bookkeeping_only(session: Session) -> None:
    """This transaction writes only the device's bookkeeping (last pull time, outbox depth): on
    PostgreSQL, commit it without waiting for the WAL flush. An up-to-date pull — every few minutes
    per phone, the commonest request of all — otherwise waits for an fsync (several milliseconds,
    more than the rest of its work) to keep a timestamp that a crash could only make a few hundred
    milliseconds older (`synchronous_commit = off` loses at most the last moments of such commits,
    never a record, an audit row or anything another transaction wrote). SQLite (WAL, `synchronous
    = NORMAL`) already commits without an fsync."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


def note_push(device: Device, outbox_depth: int | None, now: dt.datetime) -> None:
    device.last_push_at = now
    device.last_sync_at = now
    if outbox_depth is not None:
        device.outbox_depth = outbox_depth


def note_pull(device: Device, outbox_depth: int | None, now: dt.datetime) -> None:
    device.last_pull_at = now
    device.last_sync_at = now
    if outbox_depth is not None:
        device.outbox_depth = outbox_depth
