"""Alert services: urgent events, acknowledgement, and the alert list of the signed-in user.

`raise_urgent` is the hook the sync engine calls when it applies a contact; the periodic stall rules
live in server/alerts/ (lifecycle.evaluate). Both the `alert.acknowledge` sync mutation and the
HTTP API acknowledge through `acknowledge`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from server.alerts.audience import DEVICE_RULE, URGENT_RULE, visible
from server.alerts.lifecycle import event, insert_alert, live_alert
from server.alerts.notify import notify
from server.db import utcnow
from server.errors import ApiError
from server.models import Alert, CareRelation, Case, Person
from server.permissions import Actor, Permission
from server.services import audit
from server.vocab import URGENT_OUTCOMES, AlertState

URGENT_LEVEL = "urgent"
NOTE_MAX = 2000
# A visit broken off for safety *with* a violence-related risk flag is a sudden risk (DOMAIN.md §4 R).
VIOLENCE_FLAGS = frozenset({"violence_history", "weapon"})


class ContactFacts(Protocol):
    """What the rule R reads of a contact: a `Contact`, or a new one a push has not inserted yet."""

    @property
    def outcome(self) -> str: ...
    @property
    def counterpart(self) -> str: ...
    @property
    def risk_flags(self) -> list[str]: ...


def urgent_reason(session: Session, case: Case, contact: ContactFacts) -> str | None:
    """Why this contact is a sudden risk (rule R), or None:
    - 緊急対応 or 死亡確認 (vocab.URGENT_OUTCOMES);
    - 入院・入所中 of someone who cares for another person (8050, young carers: the cared-for may now
      be alone), i.e. the case's person is a carer, or a family member of a cared-for person is
      reported in hospital;
    - a visit broken off for safety with a violence or weapon risk flag."""
    if contact.outcome in URGENT_OUTCOMES:
        return contact.outcome
    if contact.outcome == "IN_HOSPITAL_OR_FACILITY":
        person_is_carer = exists().where(CareRelation.carer_id == case.person_id)
        family_carer = exists().where(CareRelation.cared_id == case.person_id)
        if session.scalar(select(person_is_carer)) or (
            contact.counterpart == "FAMILY" and session.scalar(select(family_carer))
        ):
            return "CARER_HOSPITALISED"
    if contact.outcome == "ABORTED_SAFETY" and VIOLENCE_FLAGS & set(contact.risk_flags or ()):
        return "VIOLENCE"
    return None


def raise_urgent(session: Session, case: Case, contact: ContactFacts, now: dt.datetime | None = None) -> Alert | None:
    """Called for every applied contact (a no-op unless `urgent_reason` finds one). Opens the case's
    urgent alert, straight to the supervisors, and queues an immediate push (quiet hours do not
    apply). With an R alert already live, a new urgent event reopens it if it was acknowledged."""
    if urgent_reason(session, case, contact) is None:
        return None
    now = now or utcnow()
    live = live_alert(session, case.id, URGENT_RULE)
    if live is not None:
        if live.state == AlertState.ACKNOWLEDGED:
            live.state = AlertState.OPEN
            live.opened_at = now
            session.flush()
            notify(session, [event("reopened", live)], now, None)
        return live
    alert = insert_alert(
        session,
        case_id=case.id,
        team_id=case.team_id,
        rule=URGENT_RULE,
        level=URGENT_LEVEL,
        opened_at=now,
        escalated_at=now,
    )
    if alert is None:  # raised concurrently by another transaction
        return live_alert(session, case.id, URGENT_RULE)
    notify(session, [event("raised", alert)], now, None)
    audit.record(session, None, "alert.raise", entity="alert", entity_id=alert.id, case_id=case.id, detail="R")
    return alert


def _parse_date(value: dt.date | str | None) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ApiError(422, "invalid_request", field="next_date")


def get_alert(session: Session, actor: Actor, alert_id: uuid.UUID, *, for_update: bool = False) -> Alert:
    """The alert if the actor may see it; 404 otherwise (its existence is not revealed)."""
    if not actor.can(Permission.ALERT_READ):
        raise ApiError(404, "not_found", field="id")
    query = select(Alert).where(Alert.id == alert_id, visible(actor))
    alert = session.scalar(query.with_for_update() if for_update else query)
    if alert is None:
        raise ApiError(404, "not_found", field="id")
    return alert


def acknowledge(
    session: Session,
    actor: Actor,
    alert_id: uuid.UUID,
    note: str | None,
    next_date: dt.date | str | None,
    now: dt.datetime | None = None,
) -> Alert:
    """open → acknowledged, with a note and the next planned date (both required). Acknowledging
    again updates them. Errors: 404 not_found (unknown or not visible), 403 forbidden (a worker on
    an alert about a phone: that is for the office), 409 alert_resolved, 422 invalid_request with
    field note or next_date."""
    alert = get_alert(session, actor, alert_id, for_update=True)
    if not actor.can(Permission.ALERT_ACK) or (
        alert.rule == DEVICE_RULE and not actor.can(Permission.CASE_REVIEW)
    ):
        raise ApiError(403, "forbidden")
    if alert.state == AlertState.RESOLVED:
        raise ApiError(409, "alert_resolved", field="id")
    text = (note or "").strip()
    if not text or len(text) > NOTE_MAX:
        raise ApiError(422, "invalid_request", field="note")
    next_day = _parse_date(next_date)  # every check before the first change
    alert.state = AlertState.ACKNOWLEDGED
    alert.acknowledged_at = now or utcnow()
    alert.acknowledged_by = actor.user_id
    alert.ack_note = text
    alert.ack_next_date = next_day
    audit.record(
        session, actor, "alert.acknowledge", entity="alert", entity_id=alert.id, case_id=alert.case_id,
        fields=["ack_note", "ack_next_date"],
    )
    return alert


def person_names(session: Session, case_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The name of each case's person, for office pages (callers audit the read)."""
    if not case_ids:
        return {}
    rows = session.execute(
        select(Case.id, Person.family_name, Person.given_name)
        .join(Person, Person.id == Case.person_id)
        .where(Case.id.in_(set(case_ids)))
    )
    return {cid: f"{fam} {given}".strip() for cid, fam, given in rows}


def read_alert(session: Session, actor: Actor, alert_id: uuid.UUID) -> AlertRow:
    """One alert with its person's name, for the alert page. Audited."""
    alert = get_alert(session, actor, alert_id)
    names = person_names(session, [alert.case_id] if alert.case_id else [])
    audit.record(session, actor, "alert.read", entity="alert", entity_id=alert.id, case_id=alert.case_id)
    return AlertRow(alert, names.get(alert.case_id) if alert.case_id else None)


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    person_name: str | None  # for the office page only; never in the API or a push


STATE_FILTERS: dict[str, tuple[str, ...]] = {
    "live": (AlertState.OPEN, AlertState.ACKNOWLEDGED),
    "open": (AlertState.OPEN,),
    "acknowledged": (AlertState.ACKNOWLEDGED,),
    "resolved": (AlertState.RESOLVED,),
    "all": (AlertState.OPEN, AlertState.ACKNOWLEDGED, AlertState.RESOLVED),
}


def list_alerts(
    session: Session, actor: Actor, state: str = "live", limit: int = 200, *, with_names: bool = False
) -> list[AlertRow]:
    """The actor's alerts: unacknowledged first, then by level and age. Audited (a read of case data)."""
    if state not in STATE_FILTERS:
        raise ApiError(422, "invalid_request", field="state")
    if not actor.can(Permission.ALERT_READ):
        raise ApiError(403, "forbidden")
    limit = max(1, min(limit, 500))
    query = (
        select(Alert)
        .where(visible(actor), Alert.state.in_(STATE_FILTERS[state]))
        .order_by((Alert.state == AlertState.OPEN).desc(), Alert.opened_at.desc(), Alert.id)
        .limit(limit)
    )
    alerts = list(session.scalars(query))
    names = person_names(session, [a.case_id for a in alerts if a.case_id is not None]) if with_names else {}
    audit.record(session, actor, "alert.list", entity="alert", detail=f"state={state} count={len(alerts)}")
    return [AlertRow(a, names.get(a.case_id) if a.case_id else None) for a in alerts]
