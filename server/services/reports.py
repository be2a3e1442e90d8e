"""実績報告: the figures a city reports for the outreach project (DOMAIN.md §5), derived from the atomic
events for any period (a 年度, a quarter), never stored as totals.

Definitions (each one a single set-based query over the cases in the report's scope, program item 4):
- 支援対象者実人数: distinct persons with at least one contact attempt in the period.
- 延べ件数: contact attempts in the period (corrections are not new attempts), in total and by method.
- 本人接触実人数 / 家族接触実人数: distinct persons whose contact in the period reached them / their family.
- 新規把握数: cases identified (把握日) in the period, by 把握経路.
- 把握から本人接触までの日数（中央値）: for cases whose first contact that reached the person falls in the
  period, the days from 把握日 to that contact (Tokyo calendar days).
- つながった件数: CONNECTED milestones in the period, by destination.
- 終結件数: cases closed in the period, by reason.
- 会議: contacts with method MEETING, by kind — 支援会議 (shared under art. 106-6), 重層的支援会議
  (consent-based) or other — read from the record's sharing basis.
A contact's day is its Tokyo calendar day (a visit at 00:30 on 1 April JST belongs to the new 年度).

The figures about contact attempts for whole months (a 年度, a quarter: the dashboard and the city's
CSV) are read from a per case and month summary of the contacts and its totals per team, program item
and month, brought up to date first (services/report_summary.py: a derived cache, tested equal to the
live query); other periods read the contacts themselves.

Scope: a supervisor reports on the municipality (REPORT_READ); a coordinator sees their own team's
figures on the dashboard (TEAM_REPORT_READ) but cannot export the municipality's report.
"""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Date, Integer, String, and_, case, cast, exists, func, literal, null, select, text, union_all
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from server.db import UTCDateTime
from server.errors import ApiError
from server.models import Case, Contact, ContactMonth, MilestoneEvent, Team, TeamMonth
from server.models.report import method_column
from server.permissions import Actor, Permission, team_scope
from server.services import report_summary
from server.services.derived import day_start, effective_contacts, is_effective, local_date
from server.vocab import CLOSED_REASONS, CONTACT_METHODS, REFERRAL_SOURCES

OUTREACH_ITEM = 4  # 社会福祉法第106条の4第2項第4号
MEETING_KINDS = {report_summary.SHIEN_KAIGI: "shien_kaigi", report_summary.JUSOU_KAIGI: "jusou_kaigi"}
MEETING_KIND_ORDER = ("shien_kaigi", "jusou_kaigi", "other")


@dataclass
class Indicators:
    start: dt.date
    end: dt.date
    persons_supported: int = 0
    contacts_total: int = 0
    contacts_by_method: dict[str, int] = field(default_factory=dict)
    persons_reached: int = 0
    families_reached: int = 0
    new_cases: int = 0
    new_by_source: dict[str, int] = field(default_factory=dict)
    days_to_person_median: float | None = None
    days_to_person_count: int = 0
    connected: int = 0
    connected_by_destination: dict[str, int] = field(default_factory=dict)
    closed: int = 0
    closed_by_reason: dict[str, int] = field(default_factory=dict)
    meetings: dict[str, int] = field(default_factory=dict)
    monthly: list[tuple[dt.date, dict[str, int]]] = field(default_factory=list)  # month -> reached -> count


def report_scope(actor: Actor, team_id: uuid.UUID | None = None) -> ColumnElement[bool]:
    """The cases an actor's figures cover: the municipality for REPORT_READ, the own team for
    TEAM_REPORT_READ; optionally narrowed to one team (within that scope)."""
    return and_(_report_teams(actor, team_id, Case.team_id), Case.program_item == OUTREACH_ITEM)


def _report_teams(actor: Actor, team_id: uuid.UUID | None, column: Any) -> ColumnElement[bool]:
    """`report_scope`'s teams, said of a team id column (the cases' or the summary's totals'): the
    teams of `permissions.team_scope` for REPORT_READ (a supervisor's municipality), the own team
    for TEAM_REPORT_READ."""
    if actor.can(Permission.REPORT_READ):
        scope = column.in_(select(Team.id).where(team_scope(actor)))
    elif actor.can(Permission.TEAM_REPORT_READ):
        scope = column == actor.team_id
    else:
        raise ApiError(403, "forbidden")
    return and_(scope, column == team_id) if team_id is not None else scope


def indicators(
    session: Session, actor: Actor, start: dt.date, end: dt.date, team_id: uuid.UUID | None = None
) -> Indicators:
    """The figures for [start, end] (both days inclusive)."""
    scope = report_scope(actor, team_id)
    lo, hi = day_start(start), day_start(end + dt.timedelta(days=1))
    out = Indicators(start=start, end=end)
    teams = _report_teams(actor, team_id, TeamMonth.team_id)
    if not (_month_aligned(start, end) and _summary_figures(session, out, scope, teams)):
        _contact_figures(session, out, scope, lo, hi)

    new = dict(
        session.execute(
            select(Case.referral_source, func.count())
            .where(scope, Case.identified_on >= start, Case.identified_on <= end)
            .group_by(Case.referral_source)
        ).all()
    )
    out.new_by_source = {s: int(new.get(s, 0)) for s in REFERRAL_SOURCES}
    out.new_by_source.update({s: int(c) for s, c in new.items() if s not in REFERRAL_SOURCES})
    out.new_cases = sum(int(v) for v in new.values())

    connected = session.execute(
        select(MilestoneEvent.destination, func.count())
        .join(Case, Case.id == MilestoneEvent.case_id)
        .where(scope, MilestoneEvent.milestone == "CONNECTED")
        .where(MilestoneEvent.reached_on >= start, MilestoneEvent.reached_on <= end)
        .group_by(MilestoneEvent.destination)
        .order_by(func.count().desc(), MilestoneEvent.destination)
    ).all()
    out.connected_by_destination = {}
    for destination, count in connected:
        key = (destination or "").strip()
        out.connected_by_destination[key] = out.connected_by_destination.get(key, 0) + int(count)
    out.connected = sum(out.connected_by_destination.values())

    closed = dict(
        session.execute(
            select(Case.closed_reason, func.count())
            .where(scope, Case.status == "closed", Case.closed_on >= start, Case.closed_on <= end)
            .group_by(Case.closed_reason)
        ).all()
    )
    out.closed_by_reason = {r: int(closed.get(r, 0)) for r in CLOSED_REASONS}
    unknown = sum(int(c) for r, c in closed.items() if r not in CLOSED_REASONS)
    if unknown:
        out.closed_by_reason["other"] += unknown
    out.closed = sum(out.closed_by_reason.values())
    return out


def _months(start: dt.date, end: dt.date) -> list[dt.date]:
    months, m = [], start.replace(day=1)
    while m <= end:
        months.append(m)
        m = (m + dt.timedelta(days=32)).replace(day=1)
    return months


def _month_aligned(start: dt.date, end: dt.date) -> bool:
    """Whether [start, end] is whole Tokyo months (a 年度, a quarter): what the summary answers."""
    return start.day == 1 and (end + dt.timedelta(days=1)).day == 1 and start <= end


# (month, unusual, person, family, none, 支援会議, 重層的支援会議, by method…) per month; the distinct
# persons (supported, reached, family reached); (把握日, first reach) of the cases first reached in
# the period.
_SummaryRows = tuple[list[Any], tuple[int, int, int], list[tuple[dt.date, dt.datetime]]]
_COUNTS = ("unusual", "n_person", "n_family", "n_none", "meet_shien", "meet_jusou",
           *(method_column(m) for m in CONTACT_METHODS))  # fmt: skip


def _summary_figures(session: Session, out: Indicators, scope: ColumnElement[bool], teams: ColumnElement[bool]) -> bool:
    """The figures about the period's contact attempts from the per case and month summary and its
    totals per team (services/report_summary.py), brought up to date first; the same definitions as
    `_contact_figures`, which answers instead when this returns False (a period holding a method or
    a reach outside the vocabulary, which the summary cannot name). `scope` is `report_scope`, and
    `teams` the same said of `TeamMonth.team_id` (`_report_teams`).

    The sums by month add up the period's totals of the teams in scope (≈ 50 rows for a 年度). The
    distinct persons need the period's summary rows in scope (≈ 24,000 for a 年度 at default size),
    aggregated per case: whether it reached the person, the family, and its first reach of the person
    ever, which counts when it falls in the period. How, depends on the engine (`_summary_rows_pg`,
    `_summary_rows_sqlite`): the same figures, measured both ways on each."""
    report_summary.refresh(session)
    months = _months(out.start, out.end)
    lo, hi = day_start(out.start), day_start(out.end + dt.timedelta(days=1))
    pick = _summary_rows_pg if session.get_bind().dialect.name == "postgresql" else _summary_rows_sqlite
    found = pick(session, _by_month(teams, months), _in_period(scope, months), lo, hi)
    if found is None:
        return False
    sums, persons, firsts = found
    index = {m: i for i, m in enumerate(months)}
    by_method: dict[str, int] = dict.fromkeys(CONTACT_METHODS, 0)
    monthly = [dict.fromkeys(("person", "family", "none"), 0) for _m in months]
    shien = jusou = 0
    for month, _unusual, person, family, none, m_shien, m_jusou, *per_method in sums:
        monthly[index[month]] = {"person": int(person), "family": int(family), "none": int(none)}
        shien, jusou = shien + int(m_shien), jusou + int(m_jusou)
        for method, n in zip(CONTACT_METHODS, per_method, strict=True):
            by_method[method] += int(n)
    days = [max((local_date(first_at) - identified).days, 0) for identified, first_at in firsts]
    out.persons_supported, out.persons_reached, out.families_reached = persons
    out.contacts_by_method = by_method
    out.contacts_total = sum(by_method.values())
    out.meetings = {"shien_kaigi": shien, "jusou_kaigi": jusou, "other": by_method["MEETING"] - shien - jusou}
    out.monthly = list(zip(months, monthly, strict=True))
    out.days_to_person_count = len(days)
    out.days_to_person_median = float(statistics.median(days)) if days else None
    return True


def _by_month(teams: ColumnElement[bool], months: list[dt.date]) -> Any:
    """The sums (`_COUNTS`) by month of the totals of the teams in scope, program item 4."""
    tm = TeamMonth.__table__.c
    return (
        select(tm.month, *(func.sum(tm[name]) for name in _COUNTS))
        .where(teams, tm.program_item == OUTREACH_ITEM, tm.month >= months[0], tm.month <= months[-1])
        .group_by(tm.month)
    )


def _in_period(scope: ColumnElement[bool], months: list[dt.date]) -> Any:
    """The period's summary rows joined to their cases in scope (no column chosen yet)."""
    cm = ContactMonth
    return (
        select()
        .select_from(cm)
        .join(Case, Case.id == cm.case_id)
        .where(scope, cm.month >= months[0], cm.month <= months[-1])
    )


def _summary_rows_sqlite(
    session: Session, by_month: Any, in_period: Any, lo: dt.datetime, hi: dt.datetime
) -> _SummaryRows | None:
    """Two statements: the sums by month (`by_month`, over the totals), and the per-case pass over
    the period's rows; Python counts the distinct persons of ≈ 4,000 rows faster than SQLite's three
    COUNT(DISTINCT …)."""
    cm = ContactMonth.__table__.c
    sums = session.connection().execute(by_month).all()
    if any(row[1] for row in sums):
        return None
    # Per case: the first reach of the person ever only when it falls in the period (the others
    # would be made datetimes for nothing), through the Core connection (the ORM's result rows cost
    # more than the statement for thousands of plain tuples).
    first = func.min(cm.case_first_person_at)
    per_case = session.connection().execute(
        in_period.add_columns(
            # as text: thousands of uuid.UUID objects cost more than the statement
            cast(Case.person_id, String), Case.identified_on, func.max(cm.n_person), func.max(cm.n_family),
            case((and_(first >= lo, first < hi), first)),
        ).group_by(Case.id, Case.person_id, Case.identified_on)
    ).all()  # fmt: skip
    persons, reached, families, firsts = set(), set(), set(), []
    for person_id, identified, met, fam, first_at in per_case:
        persons.add(person_id)
        if met:
            reached.add(person_id)
        if fam:
            families.add(person_id)
        if first_at is not None:
            firsts.append((identified, first_at))
    return list(sums), (len(persons), len(reached), len(families)), firsts


def _summary_rows_pg(
    session: Session, by_month: Any, in_period: Any, lo: dt.datetime, hi: dt.datetime
) -> _SummaryRows | None:
    """One statement: the sums by month (`by_month`, over the totals) and the per-case pass, whose
    aggregate (a CTE, used twice) PostgreSQL counts the distinct persons of itself, returning only
    the cases first reached in the period (≈ 660 rows, not ≈ 4,000)."""
    cm = ContactMonth.__table__.c
    per_case = (
        in_period.add_columns(
            Case.person_id, Case.identified_on, func.max(cm.n_person).label("met"),
            func.max(cm.n_family).label("fam"), func.min(cm.case_first_person_at).label("first_at"),
        )
        .group_by(Case.id, Case.person_id, Case.identified_on)
        .cte("per_case")
    )  # fmt: skip
    pc = per_case.c
    none_int, none_date, none_at = null().cast(Integer), null().cast(Date), null().cast(UTCDateTime())
    month_sums = by_month.subquery("month_sums")
    parts: Any = union_all(
        select(literal(0).label("part"), *month_sums.c, none_date, none_at),
        select(literal(1), none_date, func.count(func.distinct(pc.person_id)),
               func.count(func.distinct(case((pc.met > 0, pc.person_id)))),
               func.count(func.distinct(case((pc.fam > 0, pc.person_id)))),
               *([none_int] * (len(_COUNTS) - 3)), none_date, none_at),
        select(literal(2), none_date, *([none_int] * len(_COUNTS)), pc.identified_on, pc.first_at)
        .where(pc.first_at >= lo, pc.first_at < hi),
    )  # fmt: skip
    sums: list[Any] = []
    persons = (0, 0, 0)
    firsts: list[tuple[dt.date, dt.datetime]] = []
    for part, month, *figures, identified, first_at in session.connection().execute(parts):
        if part == 0:
            if figures[0]:
                return None
            sums.append((month, *figures))
        elif part == 1:
            persons = (int(figures[0] or 0), int(figures[1] or 0), int(figures[2] or 0))
        else:
            firsts.append((identified, first_at))
    return sums, persons, firsts


def _contact_figures(
    session: Session, out: Indicators, scope: ColumnElement[bool], lo: dt.datetime, hi: dt.datetime
) -> None:
    """Every figure about the period's contact attempts from one statement that reads the period's
    effective contacts in scope twice, each time aggregated as it is read (nothing row by row is
    kept): counts by (method, reached, sharing basis, month); and per case whether it reached the
    person or the family and when it first reached the person, from which come the distinct persons
    and the cases whose first contact that reached the person falls in the period."""
    months = _months(out.start, out.end)
    bounds = [day_start(max(m, out.start)) for m in months]

    def period() -> Any:
        eff = effective_contacts()
        return eff, select().select_from(eff).join(Case, Case.id == eff.c.case_id).where(
            scope, eff.c.occurred_at >= lo, eff.c.occurred_at < hi
        )

    eff, rows = period()
    whens = [(eff.c.occurred_at < b, i - 1) for i, b in enumerate(bounds[1:], start=1)]
    # (a CASE needs at least one WHEN: a period within one month has a single bucket)
    bucket = case(*whens, else_=len(months) - 1) if whens else literal(0)
    eff2, rows2 = period()
    person, family = eff2.c.reached == "person", eff2.c.reached == "family"
    per_case = (
        rows2.add_columns(
            Case.id.label("case_id"), Case.person_id, Case.identified_on,
            func.max(case((person, 1), else_=0)).label("met"), func.max(case((family, 1), else_=0)).label("fam"),
            func.min(case((person, eff2.c.occurred_at))).label("first_at"),
        )
        .group_by(Case.id, Case.person_id, Case.identified_on)
        .cte("per_case")
    )  # fmt: skip
    pc = per_case.c
    # A case's first reach of the person is in the period when it was reached in the period and
    # never before it (by the corrected values: only effective contacts count).
    earlier = aliased(Contact)
    reached_before = exists().where(
        earlier.case_id == pc.case_id, earlier.reached == "person", earlier.occurred_at < lo, is_effective(earlier)
    )
    none_str, none_int = null().cast(String), null().cast(Integer)
    parts = union_all(
        rows.add_columns(literal(0).label("part"), eff.c.method, eff.c.reached, eff.c.sharing_basis,
                         bucket.label("bucket"), func.count().label("n1"), none_int.label("n2"), none_int.label("n3"),
                         null().cast(Date).label("identified_on"), null().cast(UTCDateTime()).label("first_at"))
        .group_by(eff.c.method, eff.c.reached, eff.c.sharing_basis, bucket),
        select(literal(1), none_str, none_str, none_str, none_int, func.count(func.distinct(pc.person_id)),
               func.count(func.distinct(case((pc.met == 1, pc.person_id)))),
               func.count(func.distinct(case((pc.fam == 1, pc.person_id)))), null().cast(Date),
               null().cast(UTCDateTime())),
        select(literal(2), none_str, none_str, none_str, none_int, none_int, none_int, none_int, pc.identified_on,
               pc.first_at)
        .where(pc.first_at.is_not(None), ~reached_before),
    )  # fmt: skip
    if session.get_bind().dialect.name == "postgresql":
        # At a city's scale the statement's cost is past the JIT thresholds, and compiling it took
        # 2 s of 15 (40,000 cases): more than it saved. Off for this transaction only.
        session.execute(text("SET LOCAL jit = off"))
    by_method: dict[str, int] = dict.fromkeys(CONTACT_METHODS, 0)
    meetings: dict[str, int] = dict.fromkeys(MEETING_KIND_ORDER, 0)
    monthly = [dict.fromkeys(("person", "family", "none"), 0) for _m in months]
    days: list[int] = []
    for part, method, reached, basis, index, n1, n2, n3, identified, first_at in session.execute(parts):
        if part == 0:
            n = int(n1)
            by_method[method] = by_method.get(method, 0) + n
            if method == "MEETING":
                meetings[MEETING_KINDS.get(basis, "other")] += n
            monthly[int(index)][reached] = monthly[int(index)].get(reached, 0) + n
        elif part == 1:
            out.persons_supported, out.persons_reached, out.families_reached = int(n1 or 0), int(n2 or 0), int(n3 or 0)
        else:
            days.append(max((local_date(first_at) - identified).days, 0))
    out.contacts_by_method = by_method
    out.contacts_total = sum(by_method.values())
    out.meetings = meetings
    out.monthly = list(zip(months, monthly, strict=True))
    out.days_to_person_count = len(days)
    out.days_to_person_median = float(statistics.median(days)) if days else None
