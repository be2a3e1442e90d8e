"""Per-case contact facts for the stall rules S1–S3, live or from a derived table kept up to date.

Why: S1–S3 read, per case, when the last contact, reach, reach without a decline and attempt
happened, and how many attempts came after that last reach. Computed live, these are a pass over
every effective contact — at 40,000 cases, 2 million rows: a sequential scan, the corrections'
anti-join and a per-case aggregate, most of the evaluation's time — although between two
evaluations (15 minutes) only the cases that received a contact change.

How: `case_contact_facts` holds one row per case with contacts, and `derived_watermark` the change
number up to which it is complete. Every contact row carries its transaction's commit-ordered
`sync_seq` (server/models/sync_stamp.py), and every transaction numbered up to the counter's
committed value has committed: the contacts numbered in (watermark, counter] are exactly those that
arrived or were corrected since. Their cases' facts are recomputed from those cases' whole histories
and the watermark moves to the counter. Recomputing is idempotent: a contact committed meanwhile may
be read too, and its case is recomputed again the next time. Contacts are never deleted or moved to
another case, and a correction is a new contact row of the same case, so no other case's facts can
change. Nothing is added to the sync push: the evaluation catches up, under its own lock.

Derived and rebuildable: without a watermark row (a new installation, after the migration, or after
`forget`) the next refresh recomputes every case.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, Table, and_, case, delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from server.models import CaseContactFacts, Contact, DerivedWatermark, SyncCounter
from server.services.derived import effective_contacts, is_effective
from server.vocab import NEGATIVE_OUTCOMES

WATERMARK = "case_contact_facts"
# Methods that are not an attempt to reach the person or the family (S3 does not count them).
NOT_ATTEMPTS = ("AGENCY_LIAISON", "MEETING")
CHUNK = 1000  # cases recomputed per statement
# More changed cases than this since the last refresh (an import, a long pause): one pass over every
# contact costs less than looking each case up.
REBUILD_ABOVE = 20_000

TABLE: Table = CaseContactFacts.__table__  # type: ignore[assignment]
COLUMNS = ("case_id", "last_at", "reached_at", "positive_at", "attempt_at", "attempts", "streak")


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


def computed(cases: Collection[uuid.UUID] | None = None) -> Select[Any]:
    """The derived table's rows, computed from the contacts (of `cases`, or of every case)."""
    cf = live(cases).subquery("cf")
    return select(*(cf.c[name] for name in COLUMNS[:-1]), streak(cf).label("streak"))


def refresh(session: Session) -> int:
    """Bring the derived table up to date; returns how many cases were recomputed. Run under the
    evaluation's lock (lifecycle.evaluate): two refreshes at once would both write the watermark."""
    upto = int(session.scalars(select(SyncCounter.seq).where(SyncCounter.id == 1)).one())
    mark = session.scalar(select(DerivedWatermark.seq).where(DerivedWatermark.name == WATERMARK).with_for_update())
    if mark is None:
        return rebuild(session, upto)
    if mark >= upto:
        return 0
    changed = sorted(
        set(session.scalars(select(Contact.case_id).where(Contact.sync_seq > mark, Contact.sync_seq <= upto)))
    )
    if len(changed) > REBUILD_ABOVE:
        return rebuild(session, upto)
    for i in range(0, len(changed), CHUNK):
        chunk = changed[i : i + CHUNK]
        session.execute(delete(TABLE).where(TABLE.c.case_id.in_(chunk)))
        session.execute(insert(TABLE).from_select(COLUMNS, computed(chunk)))
    session.execute(update(DerivedWatermark).where(DerivedWatermark.name == WATERMARK).values(seq=upto))
    return len(changed)


def rebuild(session: Session, upto: int | None = None) -> int:
    """Recompute every case's facts; the watermark moves to `upto` (default: the counter now)."""
    if upto is None:
        upto = int(session.scalars(select(SyncCounter.seq).where(SyncCounter.id == 1)).one())
    session.execute(delete(TABLE))
    session.execute(insert(TABLE).from_select(COLUMNS, computed()))
    forget(session)
    session.add(DerivedWatermark(name=WATERMARK, seq=upto))
    session.flush()
    return int(session.scalars(select(func.count()).select_from(TABLE)).one())


def forget(session: Session) -> None:
    """Drop the watermark: the next refresh recomputes every case."""
    session.execute(delete(DerivedWatermark).where(DerivedWatermark.name == WATERMARK))
