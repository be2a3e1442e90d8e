"""The sync client behind a request: one installation of the field app, a `Device` row whose id is
the `client_id` the app generated.

Threats: another user's phone replaying or reading as someone else's client (a client belongs to
the user who first used it: anyone else → 403 `device_not_owned`), and a lost phone (a revoked
device → 401 `device_revoked` with `Clear-Site-Data`, on which the app destroys its keys and data).

Concurrency: the device row is locked (SELECT … FOR UPDATE) for the rest of the request. Two
identical pushes racing on PostgreSQL therefore run one after the other, and the second sees the
first's `last_mid`: one effect. It is the first lock a sync request takes (then case rows, the
change counter last), so pulls and pushes of one device cannot deadlock each other. The exception
is an up-to-date pull (`peek`): it sends nothing and writes at most the device row's bookkeeping,
so it reads the row unlocked — one lock at most (its UPDATE's), which cannot deadlock — and most
often writes nothing at all (`pull_note_due`). A revocation committed meanwhile is seen by the
device's next request; a pull that answers nothing leaks nothing in between.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.db import utcnow
from server.errors import ApiError
from server.models import Device
from server.permissions import Actor
from server.services import audit
from sync.cursor import counter_columns

CLEAR_SITE_DATA = {"Clear-Site-Data": '"cache", "storage"'}
# How stale an up-to-date pull may leave the device's last pull (and sync) time: `pull_note_due`.
PULL_NOTE_INTERVAL = dt.timedelta(minutes=5)


# Built once: a statement object built once computes its cache key once, not on every pull.
_PEEK = (
    select(Device, *counter_columns())
    .where(Device.id == bindparam("client_id"))
    .execution_options(populate_existing=True)
)


def peek(session: Session, actor: Actor, client_id: uuid.UUID) -> tuple[Device, uuid.UUID, int] | None:
    """The device row *unlocked*, with the server epoch and the committed change number read in the
    same statement (snapshot); None when the device is new. Refuses revoked devices and devices of
    other users, as `claim` does. For a pull that may turn out to write nothing but the device's
    bookkeeping (sync/pull.py): one that writes more calls `claim` before anything else."""
    found = session.execute(_PEEK, {"client_id": client_id}).one_or_none()
    if found is None:
        return None
    device, epoch, seq = found
    _check(device, actor)
    return device, epoch, int(seq)


def claim(session: Session, actor: Actor, client_id: uuid.UUID, *, new: bool = False) -> tuple[Device, bool]:
    """The device row, locked, created for this user on first use (then `True`); refuses revoked
    devices and devices of other users. Every request but an installation's first finds the row:
    it is read (and locked) first, and inserted only when missing — `new`: the caller has just
    seen it missing, so try the insert first."""
    locked = (
        select(Device)
        .where(Device.id == client_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    device = None if new else session.scalars(locked).one_or_none()
    created = False
    if device is None:
        table: Any = Device.__table__
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        # Whether the row is new comes from RETURNING, not `rowcount`: psycopg reports -1 for this
        # statement, which read as "created" on every push and pull on PostgreSQL (a
        # `device.register` audit row each time, so even an up-to-date pull took the audit head's
        # lock). Two first requests racing: the second's insert waits for the first's commit, then
        # does nothing, and its SELECT … FOR UPDATE below finds the committed row.
        row = insert(table).values(
            id=client_id, user_id=actor.user_id, last_mid=0, outbox_depth=0, created_at=utcnow(), label=""
        )
        returned = session.execute(row.on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id))
        created = returned.first() is not None
        device = session.scalars(locked).one()
    _check(device, actor)
    return device, created


def _check(device: Device, actor: Actor) -> None:
    if device.revoked_at is not None:
        raise ApiError(401, "device_revoked", headers=CLEAR_SITE_DATA)
    if device.user_id != actor.user_id:
        raise ApiError(403, "device_not_owned", field="client_id")


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


def pull_note_due(device: Device, outbox_depth: int | None, now: dt.datetime) -> bool:
    """Whether an up-to-date pull should record itself (`note_pull`): when the device's last pull
    time is `PULL_NOTE_INTERVAL` old or more, or its reported outbox depth changed. The app pulls
    every minute while open, nearly always up to date; a pull that writes nothing takes no lock and
    commits without a WAL record. The cost: the recorded times may lag by up to the interval. What
    reads them counts days (端末が未同期, the dashboard's silent phones: docs/alerts.md), the devices
    page shows them to the minute. A push, and a pull that sends anything, always record theirs."""
    if outbox_depth is not None and outbox_depth != device.outbox_depth:
        return True
    return device.last_pull_at is None or now - device.last_pull_at >= PULL_NOTE_INTERVAL


def note_pull(device: Device, outbox_depth: int | None, now: dt.datetime) -> None:
    device.last_pull_at = now
    device.last_sync_at = now
    if outbox_depth is not None:
        device.outbox_depth = outbox_depth
