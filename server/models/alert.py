"""Alerts raised by the stall rules or urgent events, and browsers' push subscriptions."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, new_id, utcnow


class Alert(Base):
    __tablename__ = "alert"
    __table_args__ = (
        # One open (or acknowledged) alert per case and rule.
        Index(
            "uq_alert_case_rule_live",
            "case_id",
            "rule",
            unique=True,
            postgresql_where=text("state <> 'resolved' AND case_id IS NOT NULL"),
            sqlite_where=text("state <> 'resolved' AND case_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case_record.id"), index=True)
    subject_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"))  # 端末が未同期
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("team.id"), index=True)
    rule: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default="open", index=True)
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"))
    ack_note: Mapped[str] = mapped_column(Text, default="")
    ack_next_date: Mapped[dt.date | None]
    escalated_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    sync_seq: Mapped[int] = mapped_column(BigInteger, default=0, index=True)


class PushSubscription(Base):
    __tablename__ = "push_subscription"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    endpoint: Mapped[str] = mapped_column(Text, unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_success_at: Mapped[dt.datetime | None]
