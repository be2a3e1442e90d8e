"""The case list for the office pages: filter, search, sort and paginate in the database.

One query selects the page (the derived stage and last-reached time are joined in as subqueries, so
filtering and sorting by them happen in SQL), one counts the matches, and two more fetch the page's
workers and live alerts: four queries whatever the page size, never one per case.

The list shows names, so every case on the page is written to the audit log as read (`case.list`).
The search words themselves are never logged: they are usually a name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, String, and_, cast, exists, func, or_, select
from sqlalchemy.orm import Session

from server.kana import search_key
from server.models import Alert, Case, CaseAssignment, Person, Team, User
from server.permissions import Actor, case_scope, team_scope
from server.services import audit
from server.services.derived import day_start, last_reached, local_date, stage_name, stage_rank, stage_ranks
from server.vocab import ALERT_LEVELS, ALL_MILESTONES, CATEGORIES, AlertState, CaseStatus, Role

PER_PAGE = 50
SORTS = ("silent", "due", "name", "identified", "stage")
STATUSES = ("active", "open", "watching", "closed", "all")
# How pressing an alert level is, for showing the worst one first.
LEVEL_SEVERITY = {"urgent": 5, "meeting": 4, "warning": 3, "review": 2, "caution": 1}


@dataclass(frozen=True)
class CaseFilters:
    team_id: uuid.UUID | None = None
    worker_id: uuid.UUID | None = None
    status: str = "active"  # open and watching
    stage: str | None = None
    category: str | None = None
    alert: str | None = None  # "any" or an alert level
    silent_days: int | None = None  # nobody reached for at least this many days
    q: str = ""
    sort: str = "silent"
    page: int = 1

    @classmethod
    def parse(cls, params: dict[str, str]) -> CaseFilters:
        """From query parameters; values that are not valid are ignored rather than refused."""

        def uid(name: str) -> uuid.UUID | None:
            try:
                return uuid.UUID(params.get(name, ""))
            except ValueError:
                return None

        def num(name: str, low: int, high: int) -> int | None:
            raw = params.get(name, "")
            return min(max(int(raw), low), high) if raw.isdigit() else None

        alert = params.get("alert") or None
        return cls(
            team_id=uid("team"),
            worker_id=uid("worker"),
            status=params.get("status") if params.get("status") in STATUSES else "active",  # type: ignore[arg-type]
            stage=params.get("stage") if params.get("stage") in ALL_MILESTONES else None,
            category=params.get("category") if params.get("category") in CATEGORIES else None,
            alert=alert if alert == "any" or alert in ALERT_LEVELS else None,
            silent_days=num("silent", 1, 3650),
            q=params.get("q", "").strip()[:100],
            sort=params.get("sort") if params.get("sort") in SORTS else "silent",  # type: ignore[arg-type]
            page=num("page", 1, 100000) or 1,
        )

    def query(self, **changes: object) -> dict[str, str]:
        """These filters as query parameters (for links: sorting, paging), with `changes` applied."""
        f = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        out = {
            "team": str(f.team_id or ""),
            "worker": str(f.worker_id or ""),
            "status": f.status,
            "stage": f.stage or "",
            "category": f.category or "",
            "alert": f.alert or "",
            "silent": str(f.silent_days or ""),
            "q": f.q,
            "sort": f.sort,
            "page": str(f.page),
        }
        defaults = {"page": "1", "status": "active", "sort": "silent"}
        return {k: v for k, v in out.items() if v and defaults.get(k) != v}


@dataclass
class CaseRow:
    id: uuid.UUID
    family_name: str
    given_name: str
    kana: str
    preferred_name: str
    team_name: str
    status: str
    categories: list[str]
    stage: str | None
    last_reached: dt.datetime | None
    silent_days: int | None  # days since last reached (or since identified, when never reached)
    never_reached: bool
    next_action_due: dt.date | None
    identified_on: dt.date
    workers: list[tuple[str, bool]] = field(default_factory=list)  # (display name, primary)
    alerts: list[tuple[str, str]] = field(default_factory=list)  # (rule, level), worst first

    @property
    def worst_level(self) -> str | None:
        return self.alerts[0][1] if self.alerts else None


@dataclass
class CasePage:
    rows: list[CaseRow]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class Option:
    value: str
    label: str


def _name_match(q: str) -> list[object]:
    """Conditions for `?q=`: the kana key (hiragana, katakana, half-width all alike) and the kanji name."""
    conditions: list[object] = []
    key = search_key(q)
    if key:
        escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        conditions.append(Person.kana_key.like(pattern, escape="\\"))
        conditions.append((Person.family_name + Person.given_name).like(pattern, escape="\\"))
        conditions.append(Person.preferred_name.like(pattern, escape="\\"))
    raw = "".join(q.split())
    if raw and raw != key:
        escaped = raw.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append((Person.family_name + Person.given_name).like(f"%{escaped}%", escape="\\"))
    return conditions


def _select(actor: Actor, f: CaseFilters, now: dt.datetime) -> Select[*tuple[Any, ...]]:
    """The page query. The derived last-reached time and stage are joined in only when the filters or
    the sort need them for every case; otherwise they are fetched for the page's cases alone."""
    lr = last_reached() if f.sort == "silent" or f.silent_days is not None else None
    st = stage_ranks() if f.sort == "stage" or f.stage is not None else None
    stmt = (
        select(
            Case.id,
            Person.family_name,
            Person.given_name,
            Person.family_name_kana,
            Person.given_name_kana,
            Person.preferred_name,
            Team.name,
            Case.status,
            Case.categories,
            Case.next_action_due,
            Case.identified_on,
            func.count().over().label("total"),
        )
        .join(Person, Person.id == Case.person_id)
        .join(Team, Team.id == Case.team_id)
        .where(case_scope(actor))
    )
    if lr is not None:
        stmt = stmt.outerjoin(lr, lr.c.case_id == Case.id)
    if st is not None:
        stmt = stmt.outerjoin(st, st.c.case_id == Case.id)
    if f.team_id is not None:
        stmt = stmt.where(Case.team_id == f.team_id)
    if f.worker_id is not None:
        stmt = stmt.where(
            exists().where(
                CaseAssignment.case_id == Case.id,
                CaseAssignment.user_id == f.worker_id,
                CaseAssignment.ended_at.is_(None),
            )
        )
    if f.status == "active":
        stmt = stmt.where(Case.status.in_((CaseStatus.OPEN, CaseStatus.WATCHING)))
    elif f.status != "all":
        stmt = stmt.where(Case.status == f.status)
    if f.stage is not None and st is not None:
        stmt = stmt.where(st.c.stage_rank == stage_rank(f.stage))
    if f.category is not None:
        # Category ids are fixed vocabulary (checked in `parse`), so matching the quoted id inside the
        # stored JSON list is exact and works the same on SQLite and PostgreSQL.
        stmt = stmt.where(cast(Case.categories, String).like(f'%"{f.category}"%'))
    if f.alert is not None:
        live = [Alert.case_id == Case.id, Alert.state != AlertState.RESOLVED]
        if f.alert != "any":
            live.append(Alert.level == f.alert)
        stmt = stmt.where(exists().where(*live))
    if f.silent_days is not None and lr is not None:
        today = local_date(now)
        cutoff = day_start(today - dt.timedelta(days=f.silent_days - 1))
        stmt = stmt.where(
            or_(
                lr.c.last_reached < cutoff,
                and_(lr.c.last_reached.is_(None), Case.identified_on <= today - dt.timedelta(days=f.silent_days)),
            )
        )
    if f.q:
        stmt = stmt.where(or_(*_name_match(f.q)))  # type: ignore[arg-type]
    if f.sort == "silent" and lr is not None:
        order: tuple[Any, ...] = (lr.c.last_reached.asc().nulls_first(), Case.identified_on.asc())
    elif f.sort == "stage" and st is not None:
        order = (st.c.stage_rank.asc().nulls_first(),)
    else:
        order = {
            "due": (Case.next_action_due.asc().nulls_last(),),
            "name": (Person.kana_key.asc(),),
            "identified": (Case.identified_on.desc(),),
        }.get(f.sort, ())
    return stmt.order_by(*order, Case.id)


def list_cases(session: Session, actor: Actor, f: CaseFilters, now: dt.datetime) -> CasePage:
    stmt = _select(actor, f, now)
    page = f.page
    result = list(session.execute(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    if result:
        total = int(result[0].total)
    else:  # past the last page (or nothing matches): count, and show the last page
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        page = max(1, -(-total // PER_PAGE))
        if total:
            result = list(session.execute(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    pages = max(1, -(-total // PER_PAGE))
    ids = [r.id for r in result]
    # The page's own last-reached times and stages: cheap for 50 ids, whatever the filters joined.
    reached: dict[uuid.UUID, dt.datetime] = {}
    ranks: dict[uuid.UUID, int | None] = {}
    if ids:
        lr = last_reached(ids)
        for cid, at in session.execute(select(lr.c.case_id, lr.c.last_reached)):
            reached[cid] = at
        st = stage_ranks(ids)
        for cid, rank in session.execute(select(st.c.case_id, st.c.stage_rank)):
            ranks[cid] = rank
    today = local_date(now)
    rows: list[CaseRow] = []
    for r in result:
        last = reached.get(r.id)
        since = (today - local_date(last)).days if last is not None else (today - r.identified_on).days
        rows.append(
            CaseRow(
                id=r.id,
                family_name=r.family_name,
                given_name=r.given_name,
                kana=f"{r.family_name_kana} {r.given_name_kana}".strip(),
                preferred_name=r.preferred_name,
                team_name=r.name,
                status=r.status,
                categories=list(r.categories or []),
                stage=stage_name(ranks.get(r.id)),
                last_reached=last,
                silent_days=max(since, 0),
                never_reached=last is None,
                next_action_due=r.next_action_due,
                identified_on=r.identified_on,
            )
        )
    _attach_people_and_alerts(session, rows)
    for row in rows:
        audit.record(session, actor, "case.list", entity="case", entity_id=row.id, case_id=row.id)
    return CasePage(rows=rows, total=total, page=page, pages=pages)


def _attach_people_and_alerts(session: Session, rows: list[CaseRow]) -> None:
    by_id = {row.id: row for row in rows}
    if not by_id:
        return
    workers: dict[uuid.UUID, list[tuple[str, bool]]] = defaultdict(list)
    for case_id, name, primary in session.execute(
        select(CaseAssignment.case_id, User.display_name, CaseAssignment.is_primary)
        .join(User, User.id == CaseAssignment.user_id)
        .where(CaseAssignment.case_id.in_(by_id), CaseAssignment.ended_at.is_(None))
        .order_by(CaseAssignment.is_primary.desc(), CaseAssignment.started_at)
    ):
        workers[case_id].append((name, bool(primary)))
    alerts: dict[uuid.UUID | None, list[tuple[str, str]]] = defaultdict(list)
    for alert_case_id, rule, level in session.execute(
        select(Alert.case_id, Alert.rule, Alert.level).where(
            Alert.case_id.in_(by_id), Alert.state != AlertState.RESOLVED
        )
    ):
        alerts[alert_case_id].append((rule, level))
    for case_id, row in by_id.items():
        row.workers = workers.get(case_id, [])
        row.alerts = sorted(alerts.get(case_id, []), key=lambda a: -LEVEL_SEVERITY.get(a[1], 0))


def filter_options(session: Session, actor: Actor) -> tuple[list[Option], list[Option]]:
    """The teams and the staff the actor may filter by (workers get only themselves)."""
    teams = [
        Option(str(tid), name)
        for tid, name in session.execute(select(Team.id, Team.name).where(team_scope(actor)).order_by(Team.name))
    ]
    if actor.role == Role.WORKER:
        return teams, []
    staff = [
        Option(str(uid), name)
        for uid, name in session.execute(
            select(User.id, User.display_name)
            .join(Team, Team.id == User.team_id)
            .where(team_scope(actor), User.is_active, User.role.in_((Role.WORKER, Role.COORDINATOR)))
            .order_by(User.display_name)
        )
    ]
    return teams, staff
