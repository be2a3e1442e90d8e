"""Derived tables: summaries the app recomputes from the records, never edited by hand and never
synced. Each can be rebuilt from scratch (delete its watermark row); see server/services/kept.py."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base


class CaseContactFacts(Base):
    """Per case with contacts, what the stall rules S1–S3 read of its effective contacts (the values
    of each attempt's latest correction): kept up to date by the alert evaluation."""

    __tablename__ = "case_contact_facts"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_record.id"), primary_key=True)
    last_at: Mapped[dt.datetime | None]  # the last contact of any kind (S1)
    reached_at: Mapped[dt.datetime | None]  # the last time someone was reached, a decline included (S2)
    positive_at: Mapped[dt.datetime | None]  # the last time someone was reached and did not decline (S3)
    attempt_at: Mapped[dt.datetime | None]  # the last attempt (a method that tries to reach someone)
    attempts: Mapped[int] = mapped_column(Integer)  # every attempt
    streak: Mapped[int] = mapped_column(Integer)  # attempts after `positive_at` (all of them without one)


class DerivedWatermark(Base):
    """Up to which change number (`sync_seq`) a derived table has taken the records into account."""

    __tablename__ = "derived_watermark"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class CaseMilestoneFacts(Base):
    """Per case with milestone events, where it stands on the ladder (S4, S5; the same rule as
    services/progress.stage_of): kept up to date by the alert evaluation."""

    __tablename__ = "case_milestone_facts"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_record.id"), primary_key=True)
    top_rank: Mapped[int | None] = mapped_column(Integer)  # the top rung since the latest SETBACK (None: none)
    since: Mapped[dt.date | None]  # the first day of that climb
    had_setback: Mapped[int] = mapped_column(Integer)  # 1 when any SETBACK exists
    last_rung_on: Mapped[dt.date | None]  # the day of the latest rung reached (S4)
