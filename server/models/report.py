"""The dashboard's summary of contacts: a derived cache, rebuilt from the contacts at will and never
edited by hand or synced (server/services/report_summary.py keeps it up to date; its watermark is a
`derived_watermark` row, server/models/derived.py)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base


def method_column(method: str) -> str:
    """The summary column counting the attempts made by `method` (one per vocab.CONTACT_METHODS;
    tests/test_report_summary.py checks that each has its column)."""
    return f"m_{method.lower()}"


class Counts:
    """The counts of a month's attempts, on a case's row (`ContactMonth`) and on their totals per
    team, program item and month (`TeamMonth`): services/report_summary.py `COUNTS` adds them up."""

    n_person: Mapped[int] = mapped_column(Integer)  # attempts that reached the person
    n_family: Mapped[int] = mapped_column(Integer)  # … the family
    n_none: Mapped[int] = mapped_column(Integer)  # … nobody
    # MEETING attempts by sharing basis (the rest of m_meeting are other meetings)
    meet_shien: Mapped[int] = mapped_column(Integer)  # SHIEN_KAIGI_106_6: 支援会議
    meet_jusou: Mapped[int] = mapped_column(Integer)  # CONSENT: 重層的支援会議
    # Attempts whose method or `reached` is outside the vocabulary: the summary cannot say them,
    # so a period holding any is answered by the live query.
    unusual: Mapped[int] = mapped_column(Integer)
    # attempts by method (vocab.CONTACT_METHODS; `method_column` names them)
    m_home_visit: Mapped[int] = mapped_column(Integer)
    m_accompaniment: Mapped[int] = mapped_column(Integer)
    m_phone: Mapped[int] = mapped_column(Integer)
    m_letter: Mapped[int] = mapped_column(Integer)
    m_digital_message: Mapped[int] = mapped_column(Integer)
    m_office_visit: Mapped[int] = mapped_column(Integer)
    m_community_setting: Mapped[int] = mapped_column(Integer)
    m_agency_liaison: Mapped[int] = mapped_column(Integer)
    m_meeting: Mapped[int] = mapped_column(Integer)


class ContactMonth(Counts, Base):
    """Per case and Tokyo calendar month with contacts: the counts the 実績報告 reads of that
    month's effective contacts (each attempt once, with its latest correction's values)."""

    __tablename__ = "report_contact_month"
    __table_args__ = (
        # The rows of one team, program item and month: what a refresh re-adds into `TeamMonth`.
        Index("ix_report_contact_month_group", "team_id", "program_item", "month"),
        # SQLite: the rows stored in key order, so a case's months are read without a lookup per row.
        {"sqlite_with_rowid": False},
    )

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_record.id"), primary_key=True)
    month: Mapped[dt.date] = mapped_column(primary_key=True)  # the month's first day
    # The case's team and program item when its rows were computed: the `TeamMonth` row they are
    # added into. A case that moves team or program item has its `sync_seq` moved (the ORM's
    # stamping, server/models/sync_stamp.py) and is recomputed (services/report_summary.py).
    team_id: Mapped[uuid.UUID] = mapped_column()
    program_item: Mapped[int] = mapped_column(Integer)
    first_person_at: Mapped[dt.datetime | None]  # the month's first attempt that reached the person
    # The case's first attempt that reached the person, of any month (the same on each of its rows:
    # a case is always recomputed whole): 把握から本人接触まで needs no look at earlier months.
    case_first_person_at: Mapped[dt.datetime | None]


class TeamMonth(Counts, Base):
    """The `ContactMonth` rows added up per team, program item and month (their own columns): what
    the 実績報告's sums by month read — a 年度 of a municipality is ≈ 50 rows instead of ≈ 24,000.
    Kept beside them by the same refresh (services/kept.py `Totals`), re-added for every group a
    recomputed case left or joined."""

    __tablename__ = "report_team_month"

    team_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    program_item: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[dt.date] = mapped_column(primary_key=True)  # the month's first day
