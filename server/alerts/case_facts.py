"""Per-case facts for the stall rules — of the contacts (S1–S3) and of the milestones (S4, S5) —
computed live, or kept in derived tables brought up to date by each evaluation.

Why: the rules read, per case, when the last contact, reach, reach without a decline and attempt
happened and how many attempts came after that last reach, and where the case stands on the ladder.
Computed live, these are a pass over every effective contact and every milestone event — at 40,000
cases, 2 million contacts (a sequential scan, the corrections' anti-join and a per-case aggregate)
and 300,000 events: most of the evaluation's time — although between two evaluations (15 minutes)
only the cases that received a record change.

How: `case_contact_facts` and `case_milestone_facts` hold one row per case with contacts (with
milestone events), and `derived_watermark` the change number up to which each is complete. Every
contact and milestone row carries its transaction's commit-ordered `sync_seq`
(server/models/sync_stamp.py), and every transaction numbered up to the counter's committed value
has committed: the rows numbered in (watermark, counter] are exactly those that arrived or were
corrected since. Their cases' facts are recomputed from those cases' whole histories and the
watermark moves to the counter. Recomputing is idempotent: a row committed meanwhile may be read
too, and its case is recomputed again the next time. Contacts and milestone events are never
deleted or moved to another case, and a correction is a new contact row of the same case, so no
other case's facts can change. Nothing is added to the sync push: the evaluation catches up, under
its own lock.

Derived and rebuildable: without a watermark row (a new installation, after the migration, or after
`forget`) the next refresh recomputes every case.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, and_, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from server.models import CaseContactFacts, CaseMilestoneFacts, Contact, DerivedWatermark, MilestoneEvent, SyncCounter
from server.services.derived import effective_contacts, is_effective
from server.vocab import MILESTONE_RANK, MILESTONES, NEGATIVE_OUTCOMES, SETBACK

# Methods that are not an attempt to reach the person or the family (S3 does not count them).
NOT_ATTEMPTS = ("AGENCY_LIAISON", "MEETING")
CHUNK = 1000  # cases recomputed per statement
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


@dataclass(frozen=True)
class Kept:
    """A derived table of per-case facts: the records it is computed from and how."""

    table: Table
    source: Any  # the model whose rows' sync_seq say which cases changed
    rows: Callable[[Collection[uuid.UUID] | None], Select[Any]]  # its rows (for these cases, or all)

    @property
    def name(self) -> str:
        return self.table.name


CONTACT_FACTS = Kept(CaseContactFacts.__table__, Contact, contact_rows)  # type: ignore[arg-type]
MILESTONE_FACTS = Kept(CaseMilestoneFacts.__table__, MilestoneEvent, climb)  # type: ignore[arg-type]
KEPT = (CONTACT_FACTS, MILESTONE_FACTS)


def refresh(session: Session) -> dict[str, int]:
    """Bring every kept table up to date; how many cases each recomputed. Run under the
    evaluation's lock (lifecycle.evaluate): two refreshes at once would both write a watermark."""
    upto = int(session.scalars(select(SyncCounter.seq).where(SyncCounter.id == 1)).one())
    return {kept.name: _refresh(session, kept, upto) for kept in KEPT}


def _refresh(session: Session, kept: Kept, upto: int) -> int:
    w = DerivedWatermark
    mark = session.scalar(select(w.seq).where(w.name == kept.name).with_for_update())
    if mark is None:
        return rebuild(session, kept, upto)
    if mark >= upto:
        return 0
    src = kept.source
    changed = sorted(set(session.scalars(select(src.case_id).where(src.sync_seq > mark, src.sync_seq <= upto))))
    if len(changed) > REBUILD_ABOVE:
        return rebuild(session, kept, upto)
    t, columns = kept.table, [c.name for c in kept.table.columns]
    for i in range(0, len(changed), CHUNK):
        chunk = changed[i : i + CHUNK]
        session.execute(delete(t).where(t.c.case_id.in_(chunk)))
        session.execute(insert(t).from_select(columns, kept.rows(chunk)))
    session.execute(update(w).where(w.name == kept.name).values(seq=upto))
    return len(changed)


def rebuild(session: Session, kept: Kept, upto: int) -> int:
    """Recompute every case's facts; the watermark moves to `upto` (a committed counter value)."""
    t = kept.table
    session.execute(delete(t))
    session.execute(insert(t).from_select([c.name for c in t.columns], kept.rows(None)))
    forget(session, kept)
    session.add(DerivedWatermark(name=kept.name, seq=upto))
    session.flush()
    return int(session.scalars(select(func.count()).select_from(t)).one())


def forget(session: Session, kept: Kept) -> None:
    """Drop the watermark: the next refresh recomputes every case."""
    session.execute(delete(DerivedWatermark).where(DerivedWatermark.name == kept.name))
