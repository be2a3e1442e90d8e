"""What a case's history says, as set-based SQL: the SQL twins of services/progress.py, for pages and
reports that filter, sort and count thousands of cases in the database instead of in Python.

- `effective_contacts()`: one row per contact attempt (originals only, so counts are not inflated by
  corrections), carrying the values of its most recent amendment when it was corrected.
- `last_reached()`: per case, when the person or the family was last reached (declines count: someone
  answered).
- `stage_ranks()`: per case, the current stage on the ladder as a rank (index in vocab.MILESTONES;
  `SETBACK_RANK` for a setback), by the same rule as `progress.stage_of`: the highest rung reached since
  the most recent SETBACK, or SETBACK when nothing was reached after it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Subquery, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.elements import ColumnElement

from server.i18n.dates import TOKYO
from server.models import Contact, MilestoneEvent
from server.vocab import MILESTONES, SETBACK

SETBACK_RANK = -1


def _superseded(c: type[Contact] | Any) -> ColumnElement[bool]:
    """True for a contact row that a later row replaces: an original that has an amendment, or an
    amendment with a newer amendment of the same original (by received_at, then id)."""
    newer = aliased(Contact)
    return exists().where(
        # Implied by the equality, but stated so that the planner reads the partial index of
        # amendments (ix_contact_amendment) rather than hashing every contact.
        newer.amends_id.is_not(None),
        newer.amends_id == func.coalesce(c.amends_id, c.id),
        newer.id != c.id,
        or_(
            c.amends_id.is_(None),
            newer.received_at > c.received_at,
            and_(newer.received_at == c.received_at, newer.id > c.id),
        ),
    )


def is_effective(c: type[Contact] | Any) -> ColumnElement[bool]:
    """True for the contact row that has the last word on its attempt (see `effective_contacts`);
    for correlated checks such as "was this case reached before that day"."""
    return ~_superseded(c)


def effective_contacts(case_ids: Collection[uuid.UUID] | None = None) -> Subquery:
    """Columns: id (the original's), case_id, occurred_at, method, counterpart, outcome, reached,
    sharing_basis, reception, duration_min, amended (bool).

    Each attempt is the row that has the last word on it — the original, or its newest amendment —
    so the values are the corrected ones and each attempt is counted once."""
    c = Contact
    stmt = select(
        func.coalesce(c.amends_id, c.id).label("id"),
        c.case_id,
        c.occurred_at,
        c.method,
        c.counterpart,
        c.outcome,
        c.reached,
        c.sharing_basis,
        c.reception,
        c.duration_min,
        c.amends_id.is_not(None).label("amended"),
    ).where(~_superseded(c))
    if case_ids is not None:
        stmt = stmt.where(c.case_id.in_(case_ids))
    return stmt.subquery("eff")


def last_reached(case_ids: Collection[uuid.UUID] | None = None) -> Subquery:
    """Columns: case_id, last_reached (UTC datetime); optionally only for `case_ids`."""
    c = Contact
    stmt = select(c.case_id, func.max(c.occurred_at).label("last_reached")).where(c.reached != "none", ~_superseded(c))
    if case_ids is not None:
        stmt = stmt.where(c.case_id.in_(case_ids))
    return stmt.group_by(c.case_id).subquery("lr")


def milestone_rank(column: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[int]:
    return case({m: i for i, m in enumerate(MILESTONES)}, value=column, else_=None)


def stage_ranks(case_ids: Collection[uuid.UUID] | None = None) -> Subquery:
    """Columns: case_id, stage_rank (NULL when the case has no milestone events); optionally only
    for `case_ids`."""
    me = aliased(MilestoneEvent)
    if case_ids is not None:
        me = aliased(MilestoneEvent, select(MilestoneEvent).where(MilestoneEvent.case_id.in_(case_ids)).subquery())
    sb = (
        select(
            me.case_id,
            me.reached_on.label("sb_on"),
            me.received_at.label("sb_at"),
            func.row_number()
            .over(partition_by=me.case_id, order_by=(me.reached_on.desc(), me.received_at.desc()))
            .label("rn"),
        )
        .where(me.milestone == SETBACK)
        .subquery()
    )
    last_sb = select(sb.c.case_id, sb.c.sb_on, sb.c.sb_at).where(sb.c.rn == 1).subquery()
    best = (
        select(me.case_id, func.max(milestone_rank(me.milestone)).label("best"))
        .outerjoin(last_sb, last_sb.c.case_id == me.case_id)
        .where(
            me.milestone.in_(MILESTONES),
            or_(
                last_sb.c.sb_on.is_(None),
                me.reached_on > last_sb.c.sb_on,
                and_(me.reached_on == last_sb.c.sb_on, me.received_at > last_sb.c.sb_at),
            ),
        )
        .group_by(me.case_id)
        .subquery()
    )
    ids = select(me.case_id).group_by(me.case_id).subquery()
    rank = case(
        (best.c.best.is_not(None), best.c.best),
        (last_sb.c.case_id.is_not(None), literal(SETBACK_RANK)),
        else_=None,
    )
    return (
        select(ids.c.case_id, rank.label("stage_rank"))
        .outerjoin(best, best.c.case_id == ids.c.case_id)
        .outerjoin(last_sb, last_sb.c.case_id == ids.c.case_id)
        .subquery("st")
    )


def stage_name(rank: int | None) -> str | None:
    if rank is None:
        return None
    if rank == SETBACK_RANK:
        return SETBACK
    return MILESTONES[rank] if 0 <= rank < len(MILESTONES) else None


def stage_rank(stage: str) -> int | None:
    if stage == SETBACK:
        return SETBACK_RANK
    return MILESTONES.index(stage) if stage in MILESTONES else None


def local_date(value: dt.datetime) -> dt.date:
    """The Tokyo calendar day of a stored (UTC) time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(TOKYO).date()


def day_start(day: dt.date) -> dt.datetime:
    """Midnight in Tokyo at the start of `day`, as a UTC datetime (period bounds for stored times)."""
    return dt.datetime.combine(day, dt.time(), tzinfo=TOKYO).astimezone(dt.UTC)
