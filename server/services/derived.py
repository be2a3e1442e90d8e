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

from sqlalchemy import Subquery, and_, case, func, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.elements import ColumnElement

from server.i18n.dates import TOKYO
from server.models import Contact, MilestoneEvent
from server.vocab import MILESTONES, SETBACK

SETBACK_RANK = -1


def effective_contacts() -> Subquery:
    """Columns: id, case_id, occurred_at, method, counterpart, outcome, reached, sharing_basis,
    reception, duration_min, recorded_by, received_at, amended (bool)."""
    amend = aliased(Contact)
    ranked = (
        select(
            amend.amends_id.label("orig_id"),
            amend.id.label("amend_id"),
            func.row_number()
            .over(partition_by=amend.amends_id, order_by=(amend.received_at.desc(), amend.id.desc()))
            .label("rn"),
        )
        .where(amend.amends_id.is_not(None))
        .subquery()
    )
    latest = aliased(Contact)
    return (
        select(
            Contact.id,
            Contact.case_id,
            func.coalesce(latest.occurred_at, Contact.occurred_at).label("occurred_at"),
            func.coalesce(latest.method, Contact.method).label("method"),
            func.coalesce(latest.counterpart, Contact.counterpart).label("counterpart"),
            func.coalesce(latest.outcome, Contact.outcome).label("outcome"),
            func.coalesce(latest.reached, Contact.reached).label("reached"),
            func.coalesce(latest.sharing_basis, Contact.sharing_basis).label("sharing_basis"),
            # Optional fields: a correction may clear them, so take the amendment's value as it is.
            case((latest.id.is_not(None), latest.reception), else_=Contact.reception).label("reception"),
            case((latest.id.is_not(None), latest.duration_min), else_=Contact.duration_min).label("duration_min"),
            Contact.recorded_by,
            Contact.received_at,
            (latest.id.is_not(None)).label("amended"),
        )
        .outerjoin(ranked, and_(ranked.c.orig_id == Contact.id, ranked.c.rn == 1))
        .outerjoin(latest, latest.id == ranked.c.amend_id)
        .where(Contact.amends_id.is_(None))
        .subquery("eff")
    )


def last_reached(eff: Subquery | None = None) -> Subquery:
    """Columns: case_id, last_reached (UTC datetime)."""
    eff = eff if eff is not None else effective_contacts()
    return (
        select(eff.c.case_id, func.max(eff.c.occurred_at).label("last_reached"))
        .where(eff.c.reached != "none")
        .group_by(eff.c.case_id)
        .subquery("lr")
    )


def milestone_rank(column: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[int]:
    return case({m: i for i, m in enumerate(MILESTONES)}, value=column, else_=None)


def stage_ranks() -> Subquery:
    """Columns: case_id, stage_rank (NULL when the case has no milestone events)."""
    me = MilestoneEvent
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
