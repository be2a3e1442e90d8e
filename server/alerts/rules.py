"""The stall rules of DOMAIN.md §4 as set-based SQL: one query per rule, each returning the cases that
meet it now as (case_id, team_id, rule, level). No case is ever looked at in a Python loop.

Conventions shared by the rules:
- Only cases that are `open` or `watching` (見守り) are evaluated; a closed case raises nothing, so its
  alerts resolve.
- Days are Japan calendar days (see sqlfuncs.jst_day); a threshold of 30 days raises on day 30.
- Contacts are the effective ones (services/derived.effective_contacts): one row per attempt,
  carrying the values of its latest correction.
- A case never reached, or with no milestone yet, counts from its 把握日 (`identified_on`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import CTE, Select, and_, case, exists, func, literal, not_, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from server.alerts.sqlfuncs import jst_day
from server.models import Case, CaseAssignment, CaseReview, Device, MilestoneEvent, User
from server.services.derived import effective_contacts
from server.vocab import FAMILY_ONLY_STAGES, MILESTONE_RANK, MILESTONES, NEGATIVE_OUTCOMES, SETBACK

ACTIVE_STATUSES = ("open", "watching")
# Rules that read what workers record on their phones: held back while a phone has not synced.
FIELD_RULES = frozenset({"S1", "S2", "S3", "S4", "S5"})
# Methods that are not an attempt to reach the person or the family (S3 does not count them).
NOT_ATTEMPTS = ("AGENCY_LIAISON", "MEETING")
FAMILY_ONLY_RANKS = sorted(MILESTONE_RANK[m] for m in FAMILY_ONLY_STAGES)


RuleQuery = Select[uuid.UUID, uuid.UUID, str, str]


@dataclass(frozen=True)
class Candidate:
    case_id: uuid.UUID
    team_id: uuid.UUID
    rule: str
    level: str


def _base(th: CTE, rule: str, level: ColumnElement[str] | str) -> RuleQuery:
    lvl = literal(level) if isinstance(level, str) else level
    return (
        select(Case.id, Case.team_id, literal(rule).label("rule"), lvl.label("level"))
        .join(th, th.c.team_id == Case.team_id)
        .where(Case.status.in_(ACTIVE_STATUSES))
    )


def s1_next_action_overdue(th: CTE) -> RuleQuery:
    """The next planned action's due date passed at least `s1_grace_days` ago, and no contact attempt
    has been recorded on or after that date."""
    eff = effective_contacts()
    last = select(eff.c.case_id, func.max(jst_day(eff.c.occurred_at)).label("day")).group_by(eff.c.case_id).subquery()
    return (
        _base(th, "S1", "caution")
        .outerjoin(last, last.c.case_id == Case.id)
        .where(
            Case.next_action_due.is_not(None),
            Case.next_action_due <= th.c.s1_due_by,
            or_(last.c.day.is_(None), last.c.day < Case.next_action_due),
        )
    )


def s2_not_reached(th: CTE) -> RuleQuery:
    """Days since the person or the family was last reached (a decline counts: someone answered):
    30 → caution, 60 → warning, 90 → meeting (team thresholds)."""
    eff = effective_contacts()
    last = (
        select(eff.c.case_id, func.max(jst_day(eff.c.occurred_at)).label("day"))
        .where(eff.c.reached != "none")
        .group_by(eff.c.case_id)
        .subquery()
    )
    day = func.coalesce(last.c.day, Case.identified_on)
    level = case(
        (day <= th.c.s2_meeting_by, literal("meeting")),
        (day <= th.c.s2_warning_by, literal("warning")),
        else_=literal("caution"),
    )
    return _base(th, "S2", level).outerjoin(last, last.c.case_id == Case.id).where(day <= th.c.s2_caution_by)


def s3_repeated_no_response(th: CTE) -> RuleQuery:
    """At least `s3_attempts` attempts in a row (the latest ones) that reached nobody or were
    declined: attempts after the last time someone was reached and did not decline."""
    eff = effective_contacts()
    positive = (
        select(eff.c.case_id, func.max(eff.c.occurred_at).label("at"))
        .where(eff.c.reached != "none", eff.c.outcome.not_in(NEGATIVE_OUTCOMES))
        .group_by(eff.c.case_id)
        .subquery()
    )
    eff2 = effective_contacts()
    streak = (
        select(eff2.c.case_id, func.count().label("n"))
        .outerjoin(positive, positive.c.case_id == eff2.c.case_id)
        .where(eff2.c.method.not_in(NOT_ATTEMPTS), or_(positive.c.at.is_(None), eff2.c.occurred_at > positive.c.at))
        .group_by(eff2.c.case_id)
        .subquery()
    )
    return _base(th, "S3", "caution").join(streak, streak.c.case_id == Case.id).where(streak.c.n >= th.c.s3_attempts)


def s4_no_milestone(th: CTE) -> RuleQuery:
    """No new rung on the ladder for `s4_days` (a SETBACK is not progress)."""
    last = (
        select(MilestoneEvent.case_id, func.max(MilestoneEvent.reached_on).label("day"))
        .where(MilestoneEvent.milestone.in_(MILESTONES))
        .group_by(MilestoneEvent.case_id)
        .subquery()
    )
    day = func.coalesce(last.c.day, Case.identified_on)
    return _base(th, "S4", "review").outerjoin(last, last.c.case_id == Case.id).where(day <= th.c.s4_by)


def climb() -> Select[uuid.UUID, int, object, int]:
    """Per case with milestone events: the top rank reached since the latest SETBACK (NULL when the
    latest event is a SETBACK), the first day of that climb, and whether any SETBACK exists.
    The same stage rule as services/progress.stage_of, in SQL."""
    me = MilestoneEvent
    rank = case(MILESTONE_RANK, value=me.milestone, else_=None)
    ev = select(
        me.case_id,
        me.milestone,
        me.reached_on,
        rank.label("rank"),
        func.row_number().over(partition_by=me.case_id, order_by=(me.reached_on, me.received_at, me.id)).label("rn"),
    ).subquery("ev")
    sb = (
        select(ev.c.case_id, func.max(ev.c.rn).label("last_sb"))
        .where(ev.c.milestone == SETBACK)
        .group_by(ev.c.case_id)
        .subquery("sb")
    )
    after = and_(ev.c.milestone != SETBACK, ev.c.rn > func.coalesce(sb.c.last_sb, 0))
    return (
        select(
            ev.c.case_id,
            func.max(case((after, ev.c.rank), else_=None)).label("top_rank"),
            func.min(case((after, ev.c.reached_on), else_=None)).label("since"),
            func.max(case((sb.c.last_sb.is_not(None), 1), else_=0)).label("had_setback"),
        )
        .outerjoin(sb, sb.c.case_id == ev.c.case_id)
        .group_by(ev.c.case_id)
    )


def s5_family_only(th: CTE) -> RuleQuery:
    """The stage has been family-only (把握 / 家族と初回接触 / 家族と継続相談) for more than `s5_days`.
    A case with no milestone event is at 把握 since its 把握日."""
    cl = climb().subquery("cl")
    since = case(
        (cl.c.case_id.is_(None), Case.identified_on),
        (and_(cl.c.had_setback == 0, Case.identified_on < cl.c.since), Case.identified_on),
        else_=cl.c.since,
    )
    family_only = or_(cl.c.case_id.is_(None), cl.c.top_rank.in_(FAMILY_ONLY_RANKS))
    return _base(th, "S5", "review").outerjoin(cl, cl.c.case_id == Case.id).where(family_only, since <= th.c.s5_by)


def s6_plan_review_overdue(th: CTE) -> RuleQuery:
    return _base(th, "S6", "warning").where(Case.plan_review_due.is_not(None), Case.plan_review_due < th.c.today)


def s7_unassigned_or_unreviewed(th: CTE) -> RuleQuery:
    """No current assignment, or no coordinator review comment for `s7_review_days` (a case never
    reviewed counts from when it was created)."""
    assigned = exists().where(CaseAssignment.case_id == Case.id, CaseAssignment.ended_at.is_(None))
    last = (
        select(CaseReview.case_id, func.max(jst_day(CaseReview.created_at)).label("day"))
        .group_by(CaseReview.case_id)
        .subquery()
    )
    day = func.coalesce(last.c.day, jst_day(Case.created_at))
    return (
        _base(th, "S7", "warning")
        .outerjoin(last, last.c.case_id == Case.id)
        .where(or_(not_(assigned), day <= th.c.s7_by))
    )


RULES = (
    s1_next_action_overdue,
    s2_not_reached,
    s3_repeated_no_response,
    s4_no_milestone,
    s5_family_only,
    s6_plan_review_overdue,
    s7_unassigned_or_unreviewed,
)


def case_candidates(session: Session, th: CTE) -> list[Candidate]:
    found: list[Candidate] = []
    for rule in RULES:
        found.extend(Candidate(c, t, r, lv) for c, t, r, lv in session.execute(rule(th)))
    return found


def lagging_workers(session: Session, th: CTE) -> set[uuid.UUID]:
    """Users whose phone has not synced for more than `unsynced_days`: every one of their active
    devices is that silent, or a silent one last reported records waiting in its outbox."""
    last = func.coalesce(Device.last_sync_at, Device.created_at)
    d2 = aliased(Device)
    fresh = exists().where(
        d2.user_id == Device.user_id,
        d2.revoked_at.is_(None),
        func.coalesce(d2.last_sync_at, d2.created_at) >= th.c.unsynced_before,
    )
    query = (
        select(Device.user_id)
        .join(User, User.id == Device.user_id)
        .join(th, th.c.team_id == User.team_id)
        .where(
            User.is_active.is_(True),
            Device.revoked_at.is_(None),
            last < th.c.unsynced_before,
            or_(Device.outbox_depth > 0, not_(fresh)),
        )
        .group_by(Device.user_id)
    )
    return set(session.scalars(query))


def assignees(
    session: Session, case_ids: Iterable[uuid.UUID], users: set[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(case_id, user_id) for the current assignments of those users to those cases."""
    ids = list(set(case_ids))
    if not ids or not users:
        return []
    rows = session.execute(
        select(CaseAssignment.case_id, CaseAssignment.user_id).where(
            CaseAssignment.ended_at.is_(None), CaseAssignment.user_id.in_(users), CaseAssignment.case_id.in_(ids)
        )
    )
    return [(case_id, user_id) for case_id, user_id in rows]
