"""Searching and exporting the audit log (admins: `audit.read`).

The audit log holds ids, action names and field names, never values; the search shows the actor's
username beside their id so an administrator can read it. An export leaves the building as a file,
so every export is itself audited (who, which filters by name, how many rows) — in the same chain.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.i18n.dates import to_tokyo
from server.models import AuditEvent, User
from server.permissions import Actor, Permission, require
from server.services import audit
from server.services.derived import day_start
from server.services.exports import Cell, to_csv

PER_PAGE = 50
OUTCOMES = ("ok", "denied", "failed")
CSV_HEADER = (
    "連番", "日時", "利用者", "利用者ID", "役割", "端末ID", "操作", "対象", "対象ID", "ケースID", "項目", "結果",
    "詳細", "ハッシュ",
)  # fmt: skip


@dataclass(frozen=True)
class Filters:
    actor: str = ""  # a username or a user id
    action: str = ""  # an action, or a prefix ending in "." (e.g. "case.")
    case_id: uuid.UUID | None = None
    date_from: dt.date | None = None  # Japan dates, both ends included
    date_to: dt.date | None = None
    outcome: str = ""

    def used(self) -> list[str]:
        """The names of the filters in use (what an export's audit row records: names, not values)."""
        return [f.name for f in fields(self) if getattr(self, f.name) not in ("", None)]

    def query(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) not in ("", None)}


def _date(params: Mapping[str, str], name: str) -> dt.date | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(400, "field_invalid", field=name) from exc


def parse_filters(params: Mapping[str, str]) -> Filters:
    """Filters from query parameters; a malformed one is a 400 naming the field."""
    case_text = params.get("case_id", "").strip()
    try:
        case_id = uuid.UUID(case_text) if case_text else None
    except ValueError as exc:
        raise ApiError(400, "field_invalid", field="case_id") from exc
    outcome = params.get("outcome", "").strip()
    if outcome and outcome not in OUTCOMES:
        raise ApiError(400, "value_not_allowed", field="outcome")
    found = Filters(
        actor=params.get("actor", "").strip()[:100],
        action=params.get("action", "").strip()[:50],
        case_id=case_id,
        date_from=_date(params, "date_from"),
        date_to=_date(params, "date_to"),
        outcome=outcome,
    )
    if found.date_from and found.date_to and found.date_from > found.date_to:
        raise ApiError(400, "field_invalid", field="date_to")
    return found


def _select(f: Filters) -> Select[AuditEvent, str]:
    q = select(AuditEvent, User.username).outerjoin(User, User.id == AuditEvent.actor_id)
    if f.actor:
        try:
            q = q.where(or_(AuditEvent.actor_id == uuid.UUID(f.actor), User.username == f.actor))
        except ValueError:
            q = q.where(User.username == f.actor)
    if f.action:
        q = q.where(
            AuditEvent.action.startswith(f.action, autoescape=True)
            if f.action.endswith(".")
            else AuditEvent.action == f.action
        )
    if f.case_id:
        q = q.where(AuditEvent.case_id == f.case_id)
    if f.date_from:
        q = q.where(AuditEvent.at >= day_start(f.date_from))
    if f.date_to:
        q = q.where(AuditEvent.at < day_start(f.date_to + dt.timedelta(days=1)))
    if f.outcome:
        q = q.where(AuditEvent.outcome == f.outcome)
    return q


@dataclass(frozen=True)
class Row:
    event: AuditEvent
    username: str | None


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    total: int
    page: int
    pages: int
    actions: list[str]


def search(session: Session, actor: Actor, f: Filters, page: int = 1, per_page: int = PER_PAGE) -> Page:
    """One page of matching events, newest first."""
    require(actor, Permission.AUDIT_READ)
    q = _select(f)
    total = int(session.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    found = session.execute(q.order_by(AuditEvent.seq.desc()).offset((page - 1) * per_page).limit(per_page)).all()
    actions = list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
    return Page([Row(e, u) for e, u in found], total, page, pages, actions)


def _csv_rows(session: Session, f: Filters, counter: list[int]) -> Iterator[tuple[Cell, ...]]:
    q = _select(f).order_by(AuditEvent.seq).execution_options(yield_per=1000)
    for e, username in session.execute(q):
        counter[0] += 1
        yield (
            e.seq,
            to_tokyo(e.at).strftime("%Y-%m-%d %H:%M:%S"),
            username or "",
            str(e.actor_id or ""),
            e.actor_role or "",
            str(e.device_id or ""),
            e.action,
            e.entity or "",
            e.entity_id or "",
            str(e.case_id or ""),
            " ".join(e.fields or []),
            e.outcome,
            e.detail,
            e.hash or "",
        )


def export_csv(session: Session, actor: Actor, f: Filters) -> bytes:
    """The matching events as CSV (UTF-8 with BOM, CRLF), oldest first; the export is audited."""
    require(actor, Permission.AUDIT_READ)
    counter = [0]
    data = to_csv(CSV_HEADER, _csv_rows(session, f, counter))
    used = ",".join(f.used()) or "none"
    audit.record(
        session, actor, "audit.export", entity="audit_log", fields=f.used(), detail=f"{counter[0]} rows; filters {used}"
    )
    return data
