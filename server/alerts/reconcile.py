"""Bringing the live alerts in line with what the rules found, set-based.

Only what differs leaves the database: one statement runs the rules and sets their findings beside
the live alerts (`differences`), returning the candidates without an alert, the alerts whose rule no
longer holds, and those whose level, acknowledged date or escalation is due — in a steady state a
handful of rows, not every case. The changes are decided in memory by the lifecycle's rules
(lifecycle.py) and written with one UPDATE per kind of change over the alerts it concerns. Each
UPDATE states again, in its WHERE clause, the condition it was decided on (still live, still
acknowledged, not yet escalated…): an acknowledgement committed meanwhile is never overwritten —
PostgreSQL re-checks the clause on the row's latest version — and only the alerts an UPDATE
actually changed get an event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import CTE, CompoundSelect, String, Table, Uuid, and_, exists, literal, or_, select, union_all, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from server.alerts.audience import URGENT_RULE
from server.alerts.notify import AlertEvent
from server.alerts.rules import Candidate
from server.models import Alert
from server.models.sync_stamp import touch
from server.vocab import AlertState

CHUNK = 500  # ids per UPDATE … WHERE id IN (…)
AT_ONCE_RULES = ("S6", "S7")  # to the supervisors at once, as are R and S2 at the meeting level


@dataclass(slots=True)
class LiveAlert:
    """A live alert as read, updated in memory as the evaluation decides."""

    id: uuid.UUID
    case_id: uuid.UUID | None
    subject_user_id: uuid.UUID | None
    team_id: uuid.UUID
    rule: str
    level: str
    state: str
    opened_at: dt.datetime
    escalated_at: dt.datetime | None
    ack_next_date: dt.date | None

    def event(self, kind: str) -> AlertEvent:
        return AlertEvent(
            kind=kind, alert_id=self.id, rule=self.rule, level=self.level, team_id=self.team_id,
            case_id=self.case_id, subject_user_id=self.subject_user_id, escalated=self.escalated_at is not None,
        )  # fmt: skip


def _live_columns() -> tuple[Any, ...]:
    a = Alert
    return (a.id, a.case_id, a.subject_user_id, a.team_id, a.rule, a.level, a.state, a.opened_at, a.escalated_at,
            a.ack_next_date)  # fmt: skip


def _live(row: Sequence[Any]) -> LiveAlert:
    return LiveAlert(*row[:10])


def read_live(session: Session, *where: ColumnElement[bool]) -> list[LiveAlert]:
    """Live alerts (optionally only those matching `where`), as plain rows."""
    query = select(*_live_columns()).where(Alert.state != AlertState.RESOLVED, *where).order_by(Alert.id)
    return [_live(row) for row in session.execute(query)]


def differences(
    session: Session, candidates: CompoundSelect[Any], th: CTE, today: dt.date
) -> list[tuple[Candidate | None, LiveAlert | None]]:
    """(candidate, its live alert) for every case alert with something to do: a candidate without a
    live alert (None), a live alert whose rule no longer holds (candidate None), a level that
    changed, an acknowledged date that has passed, or an open alert due for escalation (overdue for
    its team, or a rule that goes to the supervisors at once). Urgent and per-worker alerts are not
    case-rule alerts: the caller reads those (they are few)."""
    cand = candidates.cte("cand")
    live = (
        select(*_live_columns())
        .where(Alert.state != AlertState.RESOLVED, Alert.case_id.is_not(None), Alert.rule != URGENT_RULE)
        .subquery("live")
    )
    at_once = or_(cand.c.rule.in_(AT_ONCE_RULES), and_(cand.c.rule == "S2", cand.c.level == "meeting"))
    pending = (
        select(*cand.c, *live.c)
        .select_from(
            cand.outerjoin(live, and_(live.c.case_id == cand.c.id, live.c.rule == cand.c.rule)).outerjoin(
                th, th.c.team_id == live.c.team_id
            )
        )
        .where(
            or_(
                live.c.id.is_(None),
                live.c.level != cand.c.level,
                and_(live.c.state == AlertState.ACKNOWLEDGED, live.c.ack_next_date < today),
                and_(
                    live.c.state == AlertState.OPEN,
                    live.c.escalated_at.is_(None),
                    or_(live.c.opened_at <= th.c.escalate_before, at_once),
                ),
            )
        )
    )
    holds = exists().where(cand.c.id == live.c.case_id, cand.c.rule == live.c.rule)
    nothing = (literal(None, Uuid()), literal(None, Uuid()), literal(None, String()), literal(None, String()))
    vanished = select(*nothing, *live.c).where(~holds)
    found: list[tuple[Candidate | None, LiveAlert | None]] = []
    for row in session.execute(union_all(pending, vanished)):
        candidate = Candidate(row[0], row[1], row[2], row[3]) if row[0] is not None else None
        found.append((candidate, _live(row[4:]) if row[4] is not None else None))
    return found


@dataclass
class Changes:
    """What to write, by kind; `events` in the order they were decided, each with the kind of write
    that must succeed for it to stand."""

    resolve: list[uuid.UUID] = field(default_factory=list)
    resolve_acknowledged: list[uuid.UUID] = field(default_factory=list)  # urgent: only once acknowledged
    level: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    reopen: list[uuid.UUID] = field(default_factory=list)
    reopen_due: list[uuid.UUID] = field(default_factory=list)  # the acknowledged next date has passed
    escalate: list[uuid.UUID] = field(default_factory=list)
    events: list[tuple[str, AlertEvent]] = field(default_factory=list)

    def add(self, write: str, alert: LiveAlert, kind: str) -> None:
        self.events.append((write, alert.event(kind)))

    def resolved(self, alert: LiveAlert, now: dt.datetime, *, only_acknowledged: bool = False) -> None:
        (self.resolve_acknowledged if only_acknowledged else self.resolve).append(alert.id)
        alert.state = AlertState.RESOLVED
        self.add("resolve_acknowledged" if only_acknowledged else "resolve", alert, "resolved")

    def leveled(self, alert: LiveAlert, level: str) -> None:
        self.level.setdefault(level, []).append(alert.id)
        alert.level = level
        self.add(f"level:{level}", alert, "level")

    def reopened(self, alert: LiveAlert, now: dt.datetime, *, due: bool) -> None:
        (self.reopen_due if due else self.reopen).append(alert.id)
        alert.state, alert.opened_at = AlertState.OPEN, now
        self.add("reopen_due" if due else "reopen", alert, "reopened")

    def escalated(self, alert: LiveAlert, now: dt.datetime) -> None:
        self.escalate.append(alert.id)
        alert.escalated_at = now
        self.add("escalate", alert, "escalated")


def apply(session: Session, changes: Changes, now: dt.datetime, today: dt.date) -> list[AlertEvent]:
    """Write the changes in the order they were decided for each alert (resolve, level, reopen,
    escalate); returns the events of the writes that took effect, and marks the changed alerts for
    the phones' pull."""
    t: Table = Alert.__table__  # type: ignore[assignment]
    live = t.c.state != AlertState.RESOLVED
    acknowledged = t.c.state == AlertState.ACKNOWLEDGED
    done: dict[str, set[uuid.UUID]] = {}
    Write = tuple[str, Iterable[uuid.UUID], ColumnElement[bool], dict[str, object]]
    levels: list[Write] = [(f"level:{lv}", ids, live, {"level": lv}) for lv, ids in changes.level.items()]
    writes: list[Write] = [
        ("resolve", changes.resolve, live, {"state": AlertState.RESOLVED, "resolved_at": now}),
        ("resolve_acknowledged", changes.resolve_acknowledged, acknowledged,
         {"state": AlertState.RESOLVED, "resolved_at": now}),
        *levels,
        ("reopen", changes.reopen, acknowledged, {"state": AlertState.OPEN, "opened_at": now}),
        ("reopen_due", changes.reopen_due, acknowledged & (t.c.ack_next_date < today),
         {"state": AlertState.OPEN, "opened_at": now}),
        ("escalate", changes.escalate, (t.c.state == AlertState.OPEN) & t.c.escalated_at.is_(None),
         {"escalated_at": now}),
    ]  # fmt: skip
    for name, ids, condition, values in writes:
        done[name] = _update(session, t, list(ids), condition, values)
    changed = set().union(*done.values())
    touch(session, Alert, changed, held=True)  # each UPDATE locked its rows (no SAVEPOINT)
    return [ev for write, ev in changes.events if ev.alert_id in done.get(write, set())]


def _update(
    session: Session, t: Table, ids: list[uuid.UUID], condition: ColumnElement[bool], values: dict[str, object]
) -> set[uuid.UUID]:
    changed: set[uuid.UUID] = set()
    for i in range(0, len(ids), CHUNK):
        stmt = update(t).where(t.c.id.in_(ids[i : i + CHUNK]), condition).values(**values).returning(t.c.id)
        changed.update(session.scalars(stmt))
    return changed
