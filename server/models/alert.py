"""Alerts raised by the stall rules or urgent events, browsers' push subscriptions, the push
delivery queue, and the lease that lets one server process at a time run the periodic evaluation."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, new_id, utcnow


class Alert(Base):
    __tablename__ = "alert"
    __table_args__ = (
        # A case's rows after a change number, in stream order (sync/stream.py `_changed`, keyset).
        # Serves lookups and foreign-key checks by case_id alone too (no index of its own: 0014).
        Index("ix_alert_case_seq", "case_id", "sync_seq", "id"),
        # One open (or acknowledged) alert per case and rule.
        Index(
            "uq_alert_case_rule_live",
            "case_id",
            "rule",
            unique=True,
            postgresql_where=text("state <> 'resolved' AND case_id IS NOT NULL"),
            sqlite_where=text("state <> 'resolved' AND case_id IS NOT NULL"),
        ),
        # One live alert per worker and rule for alerts about a worker (端末が未同期).
        Index(
            "uq_alert_subject_rule_live",
            "subject_user_id",
            "rule",
            unique=True,
            postgresql_where=text("state <> 'resolved' AND case_id IS NULL AND subject_user_id IS NOT NULL"),
            sqlite_where=text("state <> 'resolved' AND case_id IS NULL AND subject_user_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case_record.id"))  # ix_alert_case_seq
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


class PushDelivery(Base):
    """A push waiting to go to one subscription. It survives restarts; failures are retried with
    backoff. The payload is built when it is sent (the count is then current) and never stored:
    what is stored here is only the kind and the topic."""

    __tablename__ = "push_delivery"
    __table_args__ = (
        # Pending pushes of one topic collapse into one, like the push service's Topic header.
        Index(
            "uq_push_delivery_pending_topic",
            "subscription_id",
            "topic",
            unique=True,
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("push_subscription.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # alerts | urgent | sync | digest
    topic: Mapped[str] = mapped_column(String(32))
    urgency: Mapped[str] = mapped_column(String(10))  # very-low | low | normal | high
    state: Mapped[str] = mapped_column(String(10), default="pending", index=True)  # pending|sent|failed|skipped
    generation: Mapped[int] = mapped_column(Integer, default=0)  # bumped when a newer push collapses in
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    not_before: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    claimed_until: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)  # HTTP status of the last attempt; 0 = no answer
    sent_at: Mapped[dt.datetime | None]


class JobLease(Base):
    """A named lease for periodic work: whoever moves `lease_until` forward runs the job."""

    __tablename__ = "job_lease"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime]
    last_run_at: Mapped[dt.datetime | None]
