"""Per-case facts for the stall rules — of the contacts (S1–S3) and of the milestones (S4, S5) —
computed live, or kept in derived tables brought up to date by each evaluation.

Why: the rules read, per case, when the last contact, reach, reach without a decline and attempt
happened and how many attempts came after that last reach, and where the case stands on the ladder.
Computed live, these are a pass over every effective contact and every milestone event — at 40,000
cases, 2 million contacts (a sequential scan, the corrections' anti-join and a per-case aggregate)
and 300,000 events: most of the evaluation's time — although between two evaluations (15 minutes)
only the cases that received a record change.

How: `case_contact_facts` and `case_milestone_facts` hold one row per case with contacts (with
milestone events), kept up to date from a watermark in `derived_watermark` (services/kept.py: the
cases whose rows are numbered since the watermark are recomputed from their whole histories, and the
watermark moves to the counter). Contacts and milestone events are never deleted or moved to another
case, and a correction is a new contact row of the same case, so the cases of the rows numbered since
are the only ones whose facts can change. Nothing is added to the sync push: each evaluation catches
up first, under its lock, and so do `yorisoi migrate` and the alert runner's pass.

Derived and rebuildable: without a watermark row (a new installation, after the migration, or after
`forget`) the next refresh recomputes every case.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, Table, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from server.models import CaseContactFacts, CaseMilestoneFacts, Contact, MilestoneEvent
from server.services import kept
from server.services.derived import effective_contacts, is_effective
from server.vocab import MILESTONE_RANK, MILESTONES, NEGATIVE_OUTCOMES, SETBACK

# Methods that are not an attempt to reach the person or the family (S3 does not count them).
NOT_ATTEMPTS = ("AGENCY_LIAISON", "MEETING")
# More changed cases than this since the last refresh (an import, a long pause): one pass over every
# contact costs less than looking each case up.
REBUILD_ABOVE = 20_000


def live(cases: Collection[uuid.UUID] | None = None) -> Select[Any]:
    """Per case with contacts, from one pass over its effective contacts: when the last contact of
    any kind happened (S1), when someone was last reached — a decline counts (S2), when someone was
    last reached without declining (S3), and the number and the last time of attempts (S3)."""
    eff = effective_contacts(cases)
    reached = eff.c.reached != "none"
    attempt = eff.c.method.not_in(NOT_ATTEMPTS)
    return select(
        eff.c.case_id,
        func.max(eff.c.occurred_at).label("last_at"),
        func.max(case((reached, eff.c.occurred_at))).label("reached_at"),
        func.max(case((and_(reached, eff.c.outcome.not_in(NEGATIVE_OUTCOMES)), eff.c.occurred_at))).label(
            "positive_at"
        ),
        func.max(case((attempt, eff.c.occurred_at))).label("attempt_at"),
        func.count(case((attempt, 1))).label("attempts"),
    ).group_by(eff.c.case_id)


def streak(cf: FromClause) -> ColumnElement[int]:
    """The attempts in a row (the latest ones) that reached nobody or were declined: the attempts
    after the last time someone was reached and did not decline. Read from the derived table, or
    computed from live facts: all attempts when never reached that way, none when no attempt came
    after it, and otherwise counted for that case alone, through ix_contact_case_occurred (a
    correlated count: a second pass over every contact would cost as much as the facts)."""
    if "streak" in cf.c:
        return cf.c.streak
    c = aliased(Contact)
    since = (
        select(func.count())
        .where(
            c.case_id == cf.c.case_id,
            c.occurred_at > cf.c.positive_at,
            c.method.not_in(NOT_ATTEMPTS),
            is_effective(c),
        )
        .scalar_subquery()
    )
    return case(
        (cf.c.positive_at.is_(None), cf.c.attempts),
        (cf.c.attempt_at <= cf.c.positive_at, 0),
        else_=since,
    )


def contact_rows(cases: Collection[uuid.UUID] | None = None) -> Select[Any]:
    """The rows of `case_contact_facts`, computed from the contacts (of `cases`, or of every case)."""
    cf = live(cases).subquery("cf")
    return select(*(c for c in cf.c), streak(cf).label("streak"))


def climb(cases: Collection[uuid.UUID] | None = None) -> Select[uuid.UUID, Any, Any, Any, Any]:
    """Per case with milestone events, in one pass (no window, no sort): the top rank reached since
    the latest SETBACK (NULL when the latest event is a SETBACK), the first day of that climb, whether
    any SETBACK exists, and the day of the latest rung reached (S4). Events are ordered by
    (reached_on, received_at, id). The same stage rule as services/progress.stage_of, in SQL."""
    me, sb_ev = MilestoneEvent, aliased(MilestoneEvent)
    rank = case(MILESTONE_RANK, value=me.milestone, else_=None)
    sb_query = select(sb_ev.case_id, func.max(sb_ev.reached_on).label("day")).where(sb_ev.milestone == SETBACK)
    if cases is not None:
        sb_query = sb_query.where(sb_ev.case_id.in_(cases))
    sb = sb_query.group_by(sb_ev.case_id).subquery("sb")
    later_sb = aliased(MilestoneEvent)
    # On the day of the latest SETBACK, an event counts only if no SETBACK that day came after it
    # (asked only for events on that day: a correlated check, rarely run).
    after_same_day = ~exists().where(
        later_sb.case_id == me.case_id,
        later_sb.milestone == SETBACK,
        later_sb.reached_on == me.reached_on,
        or_(
            later_sb.received_at > me.received_at,
            and_(later_sb.received_at == me.received_at, later_sb.id > me.id),
        ),
    )
    after = and_(
        me.milestone != SETBACK,
        case(
            (sb.c.day.is_(None), True),
            (me.reached_on > sb.c.day, True),
            (me.reached_on < sb.c.day, False),
            else_=after_same_day,
        ),
    )
    query = select(
        me.case_id,
        func.max(case((after, rank), else_=None)).label("top_rank"),
        func.min(case((after, me.reached_on), else_=None)).label("since"),
        func.max(case((sb.c.day.is_not(None), 1), else_=0)).label("had_setback"),
        func.max(case((me.milestone.in_(MILESTONES), me.reached_on), else_=None)).label("last_rung_on"),
    ).outerjoin(sb, sb.c.case_id == me.case_id)
    if cases is not None:
        query = query.where(me.case_id.in_(cases))
    return query.group_by(me.case_id)


_CONTACT_TABLE: Table = CaseContactFacts.__table__  # type: ignore[assignment]
_MILESTONE_TABLE: Table = CaseMilestoneFacts.__table__  # type: ignore[assignment]
CONTACT_FACTS = kept.Kept(
    "case_contact_facts", _CONTACT_TABLE, contact_rows, kept.numbered_cases(Contact), REBUILD_ABOVE
)
MILESTONE_FACTS = kept.Kept(
    "case_milestone_facts", _MILESTONE_TABLE, climb, kept.numbered_cases(MilestoneEvent), REBUILD_ABOVE
)
KEPT = (CONTACT_FACTS, MILESTONE_FACTS)


def refresh(session: Session) -> dict[str, int]:
    """Bring every kept table up to date (services/kept.py); how many cases each recomputed — after
    a rebuild, how many rows it holds. Run by the evaluation under its lock (lifecycle.evaluate),
    and by `yorisoi migrate`; concurrent refreshes serialize on the watermark rows."""
    upto = kept.counter(session)
    done: dict[str, int] = {}
    for facts in KEPT:
        n = kept.refresh(session, facts, upto)
        if n == kept.REBUILT:
            n = int(session.scalars(select(func.count()).select_from(facts.table)).one())
        done[facts.name] = n
    return done


def forget(session: Session, facts: kept.Kept) -> None:
    """Drop the watermark: the next refresh recomputes every case."""
    kept.forget(session, facts)
