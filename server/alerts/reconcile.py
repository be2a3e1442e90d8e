"""Bringing the live alerts in line with what the rules found, set-based.

The live alerts are read as plain rows (tens of thousands at a city's scale: no ORM objects, no lock
on each), the changes are decided in memory by the lifecycle's rules (lifecycle.py), and written
with one UPDATE per kind of change over the alerts it concerns. Each UPDATE states again, in its
WHERE clause, the condition it was decided on (still live, still acknowledged, not yet escalated…):
an acknowledgement committed meanwhile is never overwritten — PostgreSQL re-checks the clause on the
row's latest version — and only the alerts an UPDATE actually changed get an event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from server.alerts.notify import AlertEvent
from server.models import Alert
from server.models.sync_stamp import touch
from server.vocab import AlertState

CHUNK = 500  # ids per UPDATE … WHERE id IN (…)


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


def read_live(session: Session) -> list[LiveAlert]:
    a = Alert
    rows = session.execute(
        select(a.id, a.case_id, a.subject_user_id, a.team_id, a.rule, a.level, a.state, a.opened_at,
               a.escalated_at, a.ack_next_date)
        .where(a.state != AlertState.RESOLVED)
        .order_by(a.id)
    )  # fmt: skip
    return [
        LiveAlert(id_, case_id, subject, team_id, rule, level, state, opened_at, escalated_at, ack_next_date)
        for id_, case_id, subject, team_id, rule, level, state, opened_at, escalated_at, ack_next_date in rows
    ]


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
    touch(session, Alert, changed)
    return [ev for write, ev in changes.events if ev.alert_id in done.get(write, set())]


def _update(
    session: Session, t: Table, ids: list[uuid.UUID], condition: ColumnElement[bool], values: dict[str, object]
) -> set[uuid.UUID]:
    changed: set[uuid.UUID] = set()
    for i in range(0, len(ids), CHUNK):
        stmt = update(t).where(t.c.id.in_(ids[i : i + CHUNK]), condition).values(**values).returning(t.c.id)
        changed.update(session.scalars(stmt))
    return changed
