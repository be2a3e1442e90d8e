"""From alert events to queued pushes: who is told, and when.

A push says only that something needs a look and how many (see push/payload.py); which alerts it
counts is decided when it is sent. Here we only decide *who* gets a push of which kind, and when it
may go (quiet hours, digest). Urgent pushes go at once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from server.alerts.audience import DEVICE_RULE, URGENT_RULE, recipients
from server.alerts.schedule import PushSchedule
from server.push import queue


@dataclass(frozen=True)
class AlertEvent:
    """Something that happened to an alert in this transaction."""

    kind: str  # raised | reopened | escalated | resolved | level
    alert_id: uuid.UUID
    rule: str
    level: str
    team_id: uuid.UUID
    case_id: uuid.UUID | None
    subject_user_id: uuid.UUID | None
    escalated: bool


def notify(session: Session, events: list[AlertEvent], now: dt.datetime, schedule: PushSchedule | None) -> int:
    """Queue the pushes these events call for; returns how many subscriptions were queued for.
    `schedule` None means "send now" (urgent events need no settings)."""
    wanted: dict[str, set[uuid.UUID]] = {}
    # Teams are few and a first evaluation can raise thousands of alerts: one query per audience.
    audiences: dict[tuple[uuid.UUID, bool, bool], list[uuid.UUID]] = {}
    for ev in events:
        if ev.kind in ("raised", "reopened"):
            audience = (ev.team_id, True, ev.escalated)
        elif ev.kind == "escalated":
            audience = (ev.team_id, False, True)
        else:
            continue
        if audience not in audiences:
            team_id, coordinators, supervisors = audience
            audiences[audience] = recipients(session, team_id, coordinators=coordinators, supervisors=supervisors)
        users = audiences[audience]
        kind = "urgent" if ev.rule == URGENT_RULE else "alerts"
        wanted.setdefault(kind, set()).update(users)
        if ev.rule == DEVICE_RULE and ev.subject_user_id is not None and ev.kind != "escalated":
            wanted.setdefault("sync", set()).add(ev.subject_user_id)
    queued = 0
    for kind, user_ids in wanted.items():
        send_at = now if schedule is None else schedule.send_at(now, urgent=kind == "urgent")
        queued += queue.enqueue(session, user_ids, kind, send_at, now=now)
    return queued
