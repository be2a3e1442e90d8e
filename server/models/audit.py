"""The audit log: who did what to which record, from which device, and when — never values."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Identity, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow

GENESIS = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_log"

    # Assigned by the chain (audit_head.seq + 1 …), gap-free: a missing number is a deleted row.
    # BIGINT on PostgreSQL; INTEGER on SQLite (the rowid).
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    actor_role: Mapped[str | None] = mapped_column(String(20))
    device_id: Mapped[uuid.UUID | None]
    action: Mapped[str] = mapped_column(String(50))  # e.g. case.read, contact.create, session.login_failed
    entity: Mapped[str | None] = mapped_column(String(30))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    fields: Mapped[list[str]] = mapped_column(default=list)  # field names only
    outcome: Mapped[str] = mapped_column(String(20), default="ok")  # ok | denied | failed
    detail: Mapped[str] = mapped_column(String(200), default="")  # a code, never personal data
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditHead(Base):
    """A single row: the newest audit sequence number and hash. Appending takes its row lock at
    commit time, so the chain is extended by one transaction at a time, in commit order."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
