"""The dashboard's summary of contacts: per case and Tokyo month, the counts the 実績報告 reads, kept
up to date from the commit-ordered change numbers (services/kept.py). A derived cache, never a total.

Why: the report's contact figures for a 年度 read that year's effective contacts (each attempt once,
with its latest correction's values: services/derived.py) — at a city's default size 89,000 rows of
200,000 with the corrections' anti-join and the join to the cases, twice: 0.2–0.5 s per dashboard
although between two views only a few cases receive a contact. `report_contact_month` holds one row
per case and month with contacts (≈ 2 attempts each): the counts by whom the attempt reached, by
method and by meeting kind, and the month's first reach of the person. A month-aligned period (a
年度, a quarter) is answered from these rows joined to the cases (services/reports.py): the scope
(team, program item, municipality), the person and the 把握日 are read live from the case.

Beside them, `report_team_month` adds the rows up per team, program item and month (services/kept.py
`Totals`): the sums by month of a 年度 read ≈ 50 rows, not ≈ 24,000. For that each row also holds its
case's team and program item as of its computation, and a case whose team or program item no longer
matches its rows is recomputed: such a change moves the case's `sync_seq` (every change of a case goes
through the ORM, whose stamping numbers it: server/models/sync_stamp.py), so the refresh finds it
among the cases numbered since the watermark.

How it stays exact: it is kept up to date from its `derived_watermark` row (services/kept.py: the
cases of the contacts numbered since the watermark are recomputed from their whole effective history,
and the watermark moves to the counter) — here also the cases of the originals those contacts
correct, so a correction that moves an attempt to another month (or another case) is seen, and the
cases numbered since whose rows name another team or program item than theirs. Contacts are never
deleted. Nothing is added to the write path (sync push, office forms).

When: `yorisoi migrate` builds it, and the alert runner's periodic pass brings it up to date, so a
dashboard normally finds it complete and reads it without taking any lock; what arrived since the
last pass is recomputed by the dashboard's own refresh (services/kept.py says how two at once
serialize on the watermark row). Rebuildable: without a watermark row (a new installation, a restore
of an older backup, or after `forget`) the next refresh builds the summary from every contact.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Date, Select, Table, and_, case, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from server.models import Case, Contact, ContactMonth, TeamMonth
from server.models.report import method_column
from server.services import kept
from server.services.derived import effective_contacts
from server.vocab import CONTACT_METHODS

# Sharing bases that make a MEETING a 支援会議 or a 重層的支援会議 (reports.MEETING_KINDS).
SHIEN_KAIGI, JUSOU_KAIGI = "SHIEN_KAIGI_106_6", "CONSENT"
REACHED = ("person", "family", "none")
# More changed cases than this since the last refresh (an import, a long pause): one pass over every
# contact costs less than looking each case up.
REBUILD_ABOVE = 5_000

TABLE: Table = ContactMonth.__table__  # type: ignore[assignment]
TOTALS_TABLE: Table = TeamMonth.__table__  # type: ignore[assignment]
NAME = "report_contact_month"  # this summary's row in derived_watermark
GROUP = ("team_id", "program_item", "month")  # a total's key, in both tables
# What the totals add up: every count of a row (not its times).
COUNTS = ("n_person", "n_family", "n_none", "meet_shien", "meet_jusou", "unusual",
          *(method_column(m) for m in CONTACT_METHODS))  # fmt: skip


class tokyo_month(FunctionElement[dt.date]):
    """The first day of the Tokyo calendar month of a stored (UTC) time, as a DATE."""

    type = Date()
    inherit_cache = True
    name = "tokyo_month"


@compiles(tokyo_month, "postgresql")
def _tokyo_month_pg(element: tokyo_month, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"CAST(date_trunc('month', {arg} AT TIME ZONE 'Asia/Tokyo') AS DATE)"


@compiles(tokyo_month, "sqlite")
def _tokyo_month_sqlite(element: tokyo_month, compiler: SQLCompiler, **kw: Any) -> str:
    # Stored as UTC text; Tokyo has kept UTC+9 without daylight saving since 1951.
    arg = compiler.process(next(iter(element.clauses)), **kw)
    return f"date({arg}, '+9 hours', 'start of month')"


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def computed(cases: Collection[uuid.UUID] | None = None) -> Select[Any]:
    """The summary's rows, computed from the effective contacts (of `cases`, or of every case)."""
    eff = effective_contacts(cases)
    month = tokyo_month(eff.c.occurred_at)
    meeting = eff.c.method == "MEETING"
    columns: dict[str, ColumnElement[Any]] = {
        "case_id": eff.c.case_id,
        "month": month,
        "n_person": _count(eff.c.reached == "person"),
        "n_family": _count(eff.c.reached == "family"),
        "n_none": _count(eff.c.reached == "none"),
        "meet_shien": _count(and_(meeting, eff.c.sharing_basis == SHIEN_KAIGI)),
        "meet_jusou": _count(and_(meeting, eff.c.sharing_basis == JUSOU_KAIGI)),
        "unusual": _count(or_(eff.c.method.not_in(CONTACT_METHODS), eff.c.reached.not_in(REACHED))),
        "first_person_at": func.min(case((eff.c.reached == "person", eff.c.occurred_at))),
        **{method_column(m): _count(eff.c.method == m) for m in CONTACT_METHODS},
    }
    return select(*(col.label(name) for name, col in columns.items())).group_by(eff.c.case_id, month)


def rows(cases: Collection[uuid.UUID] | None = None) -> Select[Any]:
    """The table's rows: the summary's per month, with each case's first reach of the person ever
    and the case's team and program item."""
    months = computed(cases).subquery("cm")
    case_first = func.min(months.c.first_person_at).over(partition_by=months.c.case_id)
    return select(months, case_first.label("case_first_person_at"), Case.team_id, Case.program_item).join(
        Case, Case.id == months.c.case_id
    )


def totals(where: ColumnElement[bool] | None = None) -> Select[Any]:
    """The totals per team, program item and month of the summary's rows (those matching `where`)."""
    keys = [TABLE.c[k] for k in GROUP]
    added = select(*keys, *(func.sum(TABLE.c[name]).label(name) for name in COUNTS)).group_by(*keys)
    return added if where is None else added.where(where)


def _changed(session: Session, mark: int, upto: int) -> set[uuid.UUID]:
    """The cases of the contacts numbered in (mark, upto] and of the originals they correct; and the
    cases numbered in (mark, upto] whose rows name another team or program item than the case's."""
    numbered = Contact.sync_seq > mark, Contact.sync_seq <= upto
    originals = select(Contact.amends_id).where(*numbered, Contact.amends_id.is_not(None))
    cases = set(session.scalars(select(Contact.case_id).where(*numbered)))
    cases.update(session.scalars(select(Contact.case_id).where(Contact.id.in_(originals))))
    cm = TABLE.c
    moved = (
        select(Case.id)
        .join(TABLE, cm.case_id == Case.id)
        .where(Case.sync_seq > mark, Case.sync_seq <= upto)
        .where(or_(cm.team_id != Case.team_id, cm.program_item != Case.program_item))
        .distinct()
    )
    cases.update(session.scalars(moved))
    return cases


SUMMARY = kept.Kept(NAME, TABLE, rows, _changed, REBUILD_ABOVE, kept.Totals(TOTALS_TABLE, GROUP, totals))


def refresh(session: Session) -> int:
    """Bring the summary up to date in the session's transaction; returns how many cases were
    recomputed (-1: every case, from scratch)."""
    return kept.refresh(session, SUMMARY)


def forget(session: Session) -> None:
    """Drop the watermark: the next refresh rebuilds the summary from every contact."""
    kept.forget(session, SUMMARY)
