"""Contacts (接触記録): one append-only record per attempt; corrections are amendment records."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class Contact(Base):
    __tablename__ = "contact"
    __table_args__ = (
        # Corrections only (a few percent of the rows): what the effective-contacts anti-join reads
        # (services/derived.py) instead of hashing every contact.
        Index(
            "ix_contact_amendment",
            "amends_id",
            "received_at",
            "id",
            postgresql_where=text("amends_id IS NOT NULL"),
            sqlite_where=text("amends_id IS NOT NULL"),
        ),
        # A case's contacts in time order: the timeline, and the stall rule S3 counting only the
        # attempts after a given time (alerts/rules.py). Serves lookups by case_id alone too.
        Index("ix_contact_case_occurred", "case_id", "occurred_at"),
        # A case's rows after a change number, in stream order (sync/stream.py `_changed`, keyset).
        Index("ix_contact_case_seq", "case_id", "sync_seq", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # generated on the phone
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_record.id"))  # ix_contact_case_occurred
    amends_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contact.id"), index=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(index=True)
    method: Mapped[str] = mapped_column(String(30))
    counterpart: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(40))
    reached: Mapped[str] = mapped_column(String(10))  # derived from outcome: person | family | none
    reception: Mapped[str | None] = mapped_column(String(20))
    duration_min: Mapped[int | None] = mapped_column(Integer)
    visitor_ids: Mapped[list[str]] = mapped_column(default=list)
    risk_flags: Mapped[list[str]] = mapped_column(default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    next_action: Mapped[str] = mapped_column(Text, default="")
    next_action_due: Mapped[dt.date | None]
    sharing_basis: Mapped[str] = mapped_column(String(30), default="INTERNAL_ONLY")
    recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"), index=True)
    device_id: Mapped[uuid.UUID | None]
    client_time: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)  # when it reached the server
    sync_seq: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
