"""Sync bookkeeping: devices (one per app installation = sync client), applied mutations, the
commit-ordered change counter, and the server epoch."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class Device(Base):
    """One installation of the field app. Its id is the sync `client_id`, generated on the phone."""

    __tablename__ = "device"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"), index=True)
    label: Mapped[str] = mapped_column(String(100), default="")  # e.g. "Android Chrome"
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_mid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_push_at: Mapped[dt.datetime | None]
    last_pull_at: Mapped[dt.datetime | None]
    last_sync_at: Mapped[dt.datetime | None]  # last successful push or pull
    outbox_depth: Mapped[int] = mapped_column(Integer, default=0)  # as reported by the app
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"))
    # The device half of the phone's data key wrapping (issue: data on the phone); deleted on revoke.
    wrapping_key: Mapped[bytes | None] = mapped_column(LargeBinary(64))


class SyncMutation(Base):
    """Every mutation a client pushed, applied or not: the exactly-once record and the review queue.
    Whose it was is its device's user (a device belongs to one user: sync.clients)."""

    __tablename__ = "sync_mutation"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("device.id"), primary_key=True)
    mid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # applied | conflict | rejected
    error_code: Mapped[str | None] = mapped_column(String(60))
    # Arguments of rejected mutations are kept for review; applied ones live in their own tables.
    args: Mapped[dict[str, Any] | None] = mapped_column()
    case_id: Mapped[uuid.UUID | None]  # read by device (the primary key): no index of its own
    client_time: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reviewed_at: Mapped[dt.datetime | None]


class SyncCounter(Base):
    """A single row. Each transaction that changes synced data takes the next value *and holds the
    row lock until it commits*, so sequence numbers are handed out in commit order and a pull's cursor
    never skips a transaction that commits late."""

    __tablename__ = "sync_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


class ServerState(Base):
    """A single row. `epoch` changes when the database is restored from a backup, so clients
    re-send what the restored server lacks and pull their scope afresh."""

    __tablename__ = "server_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SyncVisibility(Base):
    """Which cases each user's field app holds, and since which change (sync/PROTOCOL.md, "Scope").

    One row per (user, case) the user has ever been sent; `visible` flips when the case enters or
    leaves the user's sync scope, and `sync_seq` is the commit-ordered number of that flip, so a
    pull from any older cursor sees it (the flip is a change like any other)."""

    __tablename__ = "sync_visibility"
    __table_args__ = (Index("ix_sync_visibility_user_seq", "user_id", "sync_seq"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_record.id"), primary_key=True, index=True)
    visible: Mapped[bool]
    sync_seq: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# Registers the session listener that stamps `sync_seq` in commit order (see its docstring).
from server.models import sync_stamp as _sync_stamp  # noqa: E402, F401
