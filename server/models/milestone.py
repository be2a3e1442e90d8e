"""Milestone events on the trust ladder, and consents (同意) with their scope and withdrawal."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class MilestoneEvent(Base):
    __tablename__ = "milestone_event"
    __table_args__ = (
        # A case's rows after a change number, in stream order (sync/stream.py `_changed`, keyset).
        # Serves lookups and foreign-key checks by case_id alone too (no index of its own: 0014).
        Index("ix_milestone_event_case_seq", "case_id", "sync_seq", "id"),
        # One rung's events in a period: the report's つながった件数 (services/reports.py) reads the
        # CONNECTED ones, a few percent, instead of every event in the period.
        Index("ix_milestone_event_milestone_reached", "milestone", "reached_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # generated on the phone
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_record.id"))  # ix_milestone_event_case_seq
    milestone: Mapped[str] = mapped_column(String(40))
    reached_on: Mapped[dt.date] = mapped_column(index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    destination: Mapped[str] = mapped_column(String(100), default="")  # for CONNECTED: つながり先
    sharing_basis: Mapped[str] = mapped_column(String(30), default="INTERNAL_ONLY")
    recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"))
    device_id: Mapped[uuid.UUID | None]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sync_seq: Mapped[int] = mapped_column(BigInteger, default=0, index=True)


class Consent(Base):
    __tablename__ = "consent"
    __table_args__ = (
        # A case's rows after a change number, in stream order (sync/stream.py `_changed`, keyset).
        # Serves lookups and foreign-key checks by case_id alone too (no index of its own: 0014).
        Index("ix_consent_case_seq", "case_id", "sync_seq", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_record.id"))  # ix_consent_case_seq
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"))  # who consented
    scope: Mapped[list[str]] = mapped_column(default=list)  # which agencies
    form: Mapped[str] = mapped_column(String(10))  # written | oral
    given_on: Mapped[dt.date]
    withdrawn_on: Mapped[dt.date | None]
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sync_seq: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
