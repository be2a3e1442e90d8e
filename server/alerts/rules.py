"""The stall rules of DOMAIN.md §4 as set-based SQL: one query per rule, each returning the cases that
meet it now as (case_id, team_id, rule, level), all run as ONE statement (a UNION ALL) so that what the
rules share is computed once: per case, the facts of its contacts (for S1, S2 and S3: one pass over the
effective contacts) and of its milestones (one pass for S4 and S5) — or both read from the tables the
evaluation keeps up to date (case_facts.py). No case is ever looked at in a
Python loop.

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
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CTE, CompoundSelect, Select, and_, case, exists, func, literal, not_, or_, select, union_all
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from server.alerts import case_facts
from server.alerts.case_facts import climb, streak
from server.alerts.sqlfuncs import jst_day
from server.models import Case, CaseAssignment, CaseReview, Device, User
from server.vocab import FAMILY_ONLY_STAGES, MILESTONE_RANK

ACTIVE_STATUSES = ("open", "watching")
# Rules that read what workers record on their phones: held back while a phone has not synced.
FIELD_RULES = frozenset({"S1", "S2", "S3", "S4", "S5"})
FAMILY_ONLY_RANKS = sorted(MILESTONE_RANK[m] for m in FAMILY_ONLY_STAGES)


RuleQuery = Select[uuid.UUID, uuid.UUID, str, str]


@dataclass(frozen=True)
class Candidate:
    case_id: uuid.UUID
    team_id: uuid.UUID
    rule: str
    level: str


@dataclass(frozen=True)
class Shared:
    """What several rules read, as CTEs of the one statement that runs them all."""

    th: CTE  # thresholds per team (sqlfuncs.thresholds_cte)
    contacts: FromClause  # case_facts.live() as a CTE, or the kept table (case_facts.CONTACT_FACTS)
    milestones: FromClause  # climb() as a CTE, or the kept table (case_facts.MILESTONE_FACTS)
    cases: Collection[uuid.UUID] | None = None  # only these cases (None: every case)


def _base(sh: Shared, rule: str, level: ColumnElement[str] | str) -> RuleQuery:
    lvl = literal(level) if isinstance(level, str) else level
    query = (
        select(Case.id, Case.team_id, literal(rule).label("rule"), lvl.label("level"))
        .join(sh.th, sh.th.c.team_id == Case.team_id)
        .where(Case.status.in_(ACTIVE_STATUSES))
    )
    return query if sh.cases is None else query.where(Case.id.in_(sh.cases))


def s1_next_action_overdue(sh: Shared) -> RuleQuery:
    """The next planned action's due date passed at least `s1_grace_days` ago, and no contact attempt
    has been recorded on or after that date."""
    th, cf = sh.th, sh.contacts
    day = jst_day(cf.c.last_at)
    return (
        _base(sh, "S1", "caution")
        .outerjoin(cf, cf.c.case_id == Case.id)
        .where(
            Case.next_action_due.is_not(None),
            Case.next_action_due <= th.c.s1_due_by,
            or_(cf.c.last_at.is_(None), day < Case.next_action_due),
        )
    )


def s2_not_reached(sh: Shared) -> RuleQuery:
    """Days since the person or the family was last reached (a decline counts: someone answered):
    30 → caution, 60 → warning, 90 → meeting (team thresholds)."""
    th, cf = sh.th, sh.contacts
    day = func.coalesce(jst_day(cf.c.reached_at), Case.identified_on)
    level = case(
        (day <= th.c.s2_meeting_by, literal("meeting")),
        (day <= th.c.s2_warning_by, literal("warning")),
        else_=literal("caution"),
    )
    return _base(sh, "S2", level).outerjoin(cf, cf.c.case_id == Case.id).where(day <= th.c.s2_caution_by)


def s3_repeated_no_response(sh: Shared) -> RuleQuery:
    """At least `s3_attempts` attempts in a row (the latest ones) that reached nobody or were
    declined: attempts after the last time someone was reached and did not decline
    (case_facts.streak)."""
    th, cf = sh.th, sh.contacts
    return _base(sh, "S3", "caution").join(cf, cf.c.case_id == Case.id).where(streak(cf) >= th.c.s3_attempts)


def s4_no_milestone(sh: Shared) -> RuleQuery:
    """No new rung on the ladder for `s4_days` (a SETBACK is not progress)."""
    th, cl = sh.th, sh.milestones
    day = func.coalesce(cl.c.last_rung_on, Case.identified_on)
    return _base(sh, "S4", "review").outerjoin(cl, cl.c.case_id == Case.id).where(day <= th.c.s4_by)


def s5_family_only(sh: Shared) -> RuleQuery:
    """The stage has been family-only (把握 / 家族と初回接触 / 家族と継続相談) for more than `s5_days`.
    A case with no milestone event is at 把握 since its 把握日."""
    th, cl = sh.th, sh.milestones
    since = case(
        (cl.c.case_id.is_(None), Case.identified_on),
        (and_(cl.c.had_setback == 0, Case.identified_on < cl.c.since), Case.identified_on),
        else_=cl.c.since,
    )
    family_only = or_(cl.c.case_id.is_(None), cl.c.top_rank.in_(FAMILY_ONLY_RANKS))
    return _base(sh, "S5", "review").outerjoin(cl, cl.c.case_id == Case.id).where(family_only, since <= th.c.s5_by)


def s6_plan_review_overdue(sh: Shared) -> RuleQuery:
    th = sh.th
    return _base(sh, "S6", "warning").where(Case.plan_review_due.is_not(None), Case.plan_review_due < th.c.today)


def s7_unassigned_or_unreviewed(sh: Shared) -> RuleQuery:
    """No current assignment, or no coordinator review comment for `s7_review_days` (a case never
    reviewed counts from when it was created)."""
    th = sh.th
    assigned = exists().where(CaseAssignment.case_id == Case.id, CaseAssignment.ended_at.is_(None))
    last = (
        select(CaseReview.case_id, func.max(jst_day(CaseReview.created_at)).label("day"))
        .group_by(CaseReview.case_id)
        .subquery()
    )
    day = func.coalesce(last.c.day, jst_day(Case.created_at))
    return (
        _base(sh, "S7", "warning")
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


def candidates(th: CTE, cases: Collection[uuid.UUID] | None = None, kept: bool = False) -> CompoundSelect[Any]:
    """Every rule over every case (or over `cases`) as one query: (case_id, team_id, rule, level).
    The per-case facts are computed live, or read from the kept tables (`kept`: after
    case_facts.refresh)."""
    if kept:
        shared = Shared(th, case_facts.CONTACT_FACTS.table, case_facts.MILESTONE_FACTS.table, cases)
    else:
        shared = Shared(th, case_facts.live(cases).cte("cf"), climb(cases).cte("cl"), cases)
    return union_all(*(rule(shared) for rule in RULES))


def case_candidates(
    session: Session, th: CTE, cases: Collection[uuid.UUID] | None = None, kept: bool = False
) -> list[Candidate]:
    """Every rule over every case (or over `cases`), in one statement."""
    return [Candidate(c, t, r, lv) for c, t, r, lv in session.execute(candidates(th, cases, kept))]


def cases_of(session: Session, users: Collection[uuid.UUID]) -> list[uuid.UUID]:
    """The cases these users are currently assigned to."""
    query = select(CaseAssignment.case_id).where(CaseAssignment.ended_at.is_(None), CaseAssignment.user_id.in_(users))
    return list(set(session.scalars(query))) if users else []


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
