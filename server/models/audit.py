"""The audit log: who did what to which record, from which device, and when — never values."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Identity, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_log"

    # BIGINT on PostgreSQL; INTEGER on SQLite so that it is the rowid and autoincrements.
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
