"""Cases (ケース), their assignment history, coordinators' review comments, and sync conflicts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, new_id, utcnow


class Case(Base):
    __tablename__ = "case_record"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)  # may be born on a phone
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    household_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("household.id"), index=True)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("team.id"), index=True)
    program_item: Mapped[int] = mapped_column(Integer, default=4)  # 社会福祉法106条の4第2項 item number
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)  # vocab.CaseStatus
    closed_reason: Mapped[str | None] = mapped_column(String(40))
    closed_on: Mapped[dt.date | None]
    categories: Mapped[list[str]] = mapped_column(default=list)
    referral_source: Mapped[str] = mapped_column(String(40))  # 把握経路
    identified_on: Mapped[dt.date]  # 把握日
    next_action: Mapped[str] = mapped_column(Text, default="")
    next_action_due: Mapped[dt.date | None] = mapped_column(index=True)
    support_decision: Mapped[bool] = mapped_column(default=False)  # 支援決定
    support_decision_on: Mapped[dt.date | None]
    plan_review_due: Mapped[dt.date | None]
    # Optimistic concurrency: `version` counts accepted updates; `field_versions` maps each field to
    # the version that last changed it, so updates made on an older version merge field by field.
    version: Mapped[int] = mapped_column(Integer, default=1)
    field_versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sync_seq: Mapped[int] = mapped_column(BigInteger, default=0, index=True)


class CaseAssignment(Base):
    """Who is (and was) assigned to a case. Ended rows are kept: the history is part of the record."""

    __tablename__ = "case_assignment"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_record.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"), index=True)
    is_primary: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]
    assigned_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"))


class CaseReview(Base):
    """A coordinator's review comment; its time is the case's last coordinator review (S7)."""

    __tablename__ = "case_review"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_record.id"), index=True)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"))
    body: Mapped[str] = mapped_column(Text)
    sharing_basis: Mapped[str] = mapped_column(String(30), default="INTERNAL_ONLY")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CaseConflict(Base):
    """A `case.update` field change that collided with someone else's; listed for the coordinator."""

    __tablename__ = "case_conflict"
    __table_args__ = (
        # A case's rows after a change number, in stream order (sync/stream.py `_changed`, keyset).
        # Serves lookups and foreign-key checks by case_id alone too (no index of its own: 0014).
        Index("ix_case_conflict_case_seq", "case_id", "sync_seq", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_record.id"))  # ix_case_conflict_case_seq
    field: Mapped[str] = mapped_column(String(40))
    base_version: Mapped[int] = mapped_column(Integer)
    server_value: Mapped[dict[str, Any]] = mapped_column()  # {"value": …}
    client_value: Mapped[dict[str, Any]] = mapped_column()  # {"value": …}
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"))
    device_id: Mapped[uuid.UUID | None]
    mid: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"))
    resolution: Mapped[str | None] = mapped_column(String(20))  # "server" | "client" | "other"
    sync_seq: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
