"""What each pushed mutation does, and who may do it.

Every mutation is authorised again when it is applied: phones work offline for days while
assignments change. Records of what happened (contacts, milestones, consents) are accepted from a
worker who was assigned when it happened — `occurred_at` (or the day of the milestone or consent)
before their assignment ended — even if they have been unassigned since; nothing a worker recorded
on duty is lost to a reassignment. Changes to the case itself need the case in scope now.

Contacts and milestones are append-only and never conflict; a correction is `contact.amend`, a new
contact pointing at the original. Handlers raise `Rejected` for what can never succeed; the push
loop runs each in a SAVEPOINT, so a rejected mutation leaves no trace but its review record.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.i18n.dates import TOKYO
from server.models import Case, CaseAssignment, Consent, Contact, HouseholdMember, MilestoneEvent, User
from server.permissions import Actor, Permission, case_in_scope
from server.services import alerts
from server.vocab import (
    ALL_MILESTONES,
    CONSENT_FORMS,
    CONTACT_METHODS,
    COUNTERPARTS,
    OUTCOMES,
    RECEPTIONS,
    RISK_FLAGS,
    SHARING_BASES,
    Role,
)
from sync.batch import Prefetched
from sync.fields import Args, Rejected

FUTURE_SLACK = dt.timedelta(hours=1)  # phone clocks drift a little; a visit next week is a typo
NOTE_MAX = 20_000
SHORT_MAX = 2_000


@dataclass
class MutationCtx:
    session: Session
    actor: Actor
    device_id: uuid.UUID
    mid: int
    client_time: dt.datetime | None
    now: dt.datetime
    batch: Prefetched | None = None  # while a push applies its batch optimistically (sync.batch)


@dataclass
class Outcome:
    """An applied mutation (status "conflict" when some fields of a case.update were held back)."""

    entity: str
    entity_id: uuid.UUID
    case_id: uuid.UUID | None
    fields: list[str]
    status: str = "applied"
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    audited: bool = False  # the service it called wrote the audit row already


Handler = Callable[[MutationCtx, dict[str, Any]], Outcome]


def start_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=TOKYO).astimezone(dt.UTC)


def today(ctx: MutationCtx) -> dt.date:
    return ctx.now.astimezone(TOKYO).date()


def _was_assigned(session: Session, user_id: uuid.UUID, case_id: uuid.UUID, at: dt.datetime) -> bool:
    found = session.scalar(
        select(CaseAssignment.id)
        .where(
            CaseAssignment.case_id == case_id,
            CaseAssignment.user_id == user_id,
            or_(CaseAssignment.ended_at.is_(None), CaseAssignment.ended_at > at),
        )
        .limit(1)
    )
    return found is not None


def writable_case(
    ctx: MutationCtx, case_id: uuid.UUID, *, at: dt.datetime | None = None, name: str = "case_id"
) -> Case:
    """The case, locked, if the actor may write to it now — or, for a record of something that
    happened at `at`, if the actor was assigned to it then."""
    if not ctx.actor.can(Permission.CASE_WRITE):
        raise Rejected("forbidden")
    known = ctx.batch.case(case_id) if ctx.batch is not None else None
    if known is not None:
        case, in_scope = known
    else:
        found = ctx.session.scalars(select(Case).where(Case.id == case_id).with_for_update(key_share=True)).first()
        if found is None:
            raise Rejected("case_not_found", name)
        case, in_scope = found, case_in_scope(ctx.session, ctx.actor, case_id)
    if in_scope:
        return case
    if at is not None and ctx.actor.role == Role.WORKER and _was_assigned(ctx.session, ctx.actor.user_id, case_id, at):
        return case
    raise Rejected("out_of_scope", name)


def _not_future(ctx: MutationCtx, when: dt.datetime, name: str) -> None:
    if when > ctx.now + FUTURE_SLACK:
        raise Rejected("field_invalid", name)


def _new_id(ctx: MutationCtx, model: type[Any], entity_id: uuid.UUID, name: str = "id") -> None:
    free = ctx.batch.claim_id(model, entity_id) if ctx.batch is not None else None
    if free is None:
        free = ctx.session.get(model, entity_id) is None
    if not free:
        raise Rejected("id_exists", name)


CONTACT_FIELDS = (
    "id", "case_id", "occurred_at", "method", "counterpart", "outcome", "reception", "duration_min",
    "visitor_ids", "risk_flags", "notes", "next_action", "next_action_due", "sharing_basis",
)  # fmt: skip


def _contact(ctx: MutationCtx, data: dict[str, Any], amend: bool) -> Outcome:
    a = Args(data, (*CONTACT_FIELDS, "amends_id") if amend else CONTACT_FIELDS)
    contact_id = a.req_uuid("id")
    case_id = a.req_uuid("case_id")
    amends_id = a.req_uuid("amends_id") if amend else None
    occurred_at = a.req_datetime("occurred_at")
    _not_future(ctx, occurred_at, "occurred_at")
    outcome = a.req_choice("outcome", OUTCOMES)
    values: dict[str, Any] = {
        "id": contact_id,
        "case_id": case_id,
        "amends_id": amends_id,
        "occurred_at": occurred_at,
        "method": a.req_choice("method", CONTACT_METHODS),
        "counterpart": a.req_choice("counterpart", COUNTERPARTS),
        "outcome": outcome,
        "reached": OUTCOMES[outcome],
        "reception": a.choice("reception", RECEPTIONS, required=False),
        "duration_min": a.integer("duration_min", 0, 24 * 60),
        "visitor_ids": [str(v) for v in a.uids("visitor_ids")],
        "risk_flags": a.choices("risk_flags", RISK_FLAGS),
        "notes": a.text("notes", NOTE_MAX),
        "next_action": a.text("next_action", SHORT_MAX),
        "next_action_due": a.date("next_action_due"),
        "sharing_basis": a.choice("sharing_basis", SHARING_BASES, required=False) or "INTERNAL_ONLY",
        "recorded_by": ctx.actor.user_id,
        "device_id": ctx.device_id,
        "client_time": ctx.client_time,
        "received_at": ctx.now,
        "sync_seq": 0,  # numbered at commit (server/models/sync_stamp.py)
    }
    case = writable_case(ctx, case_id, at=occurred_at)
    _new_id(ctx, Contact, contact_id)
    if amends_id is not None:
        original = ctx.batch.contact_case.get(amends_id) if ctx.batch is not None else None
        if original is None:
            found = ctx.session.get(Contact, amends_id)
            original = found.case_id if found is not None else None
        if original != case.id:
            raise Rejected("contact_not_found", "amends_id")
    if values["visitor_ids"]:
        wanted = {uuid.UUID(v) for v in values["visitor_ids"]}
        known = ctx.batch.known_users(wanted) if ctx.batch is not None else None
        if known is None:
            known = set(ctx.session.scalars(select(User.id).where(User.id.in_(wanted)))) == wanted
        if not known:
            raise Rejected("value_not_allowed", "visitor_ids")
    contact = NewContact(values)
    if ctx.batch is not None:
        # Inserted with the batch's other contacts when it ends (sync.push `_optimistic`).
        later = ctx.batch.planned_after(case_id, occurred_at)
        ctx.batch.add_contact(values)
    else:
        ctx.session.add(Contact(**values))
        ctx.session.flush()  # an integrity error belongs to this mutation
        later = False
    _follow_next_action(ctx.session, case, contact, later)
    alerts.raise_urgent(ctx.session, case, contact, ctx.now)  # a no-op unless the contact is a sudden risk
    return Outcome("contact", contact_id, case.id, sorted(data))


class NewContact:
    """A new contact's values, read by attribute as the rules after it read a `Contact`."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.id: uuid.UUID = values["id"]
        self.occurred_at: dt.datetime = values["occurred_at"]
        self.outcome: str = values["outcome"]
        self.counterpart: str = values["counterpart"]
        self.risk_flags: list[str] = values["risk_flags"]
        self.next_action: str = values["next_action"]
        self.next_action_due: dt.date | None = values["next_action_due"]


def _follow_next_action(session: Session, case: Case, contact: NewContact, later_in_batch: bool = False) -> None:
    """A contact that plans the next step moves the case's next action — unless a contact that
    happened later already planned one (phones sync out of order; the newest plan wins). It is an
    accepted update of those fields: version and field versions move, so an older `case.update`
    of the next action from another phone is a conflict, not a silent overwrite."""
    if not contact.next_action and contact.next_action_due is None:
        return
    if later_in_batch:
        return  # a contact of the same batch, not yet inserted
    later = session.scalar(
        select(Contact.id)
        .where(
            Contact.case_id == case.id,
            Contact.id != contact.id,
            Contact.occurred_at > contact.occurred_at,
            or_(Contact.next_action != "", Contact.next_action_due.is_not(None)),
        )
        .limit(1)
    )
    if later is not None:
        return
    new = {"next_action": contact.next_action, "next_action_due": contact.next_action_due}
    changed = {f: v for f, v in new.items() if getattr(case, f) != v}
    if not changed:
        return
    case.version += 1
    versions = dict(case.field_versions or {})
    for f, v in changed.items():
        setattr(case, f, v)
        versions[f] = case.version
    case.field_versions = versions


def contact_create(ctx: MutationCtx, data: dict[str, Any]) -> Outcome:
    return _contact(ctx, data, amend=False)


def contact_amend(ctx: MutationCtx, data: dict[str, Any]) -> Outcome:
    return _contact(ctx, data, amend=True)


def milestone_record(ctx: MutationCtx, data: dict[str, Any]) -> Outcome:
    a = Args(data, ("id", "case_id", "milestone", "reached_on", "note", "destination", "sharing_basis"))
    event = MilestoneEvent(
        id=a.req_uuid("id"),
        case_id=a.req_uuid("case_id"),
        # Any step id, hidden ones too: a city hiding a step stops the app offering it, but a phone
        # may have recorded it offline before the change, and the event happened (services/ladder.py).
        milestone=a.req_choice("milestone", ALL_MILESTONES),
        reached_on=a.req_date("reached_on"),
        note=a.text("note", NOTE_MAX),
        destination=a.text("destination", 100),
        sharing_basis=a.choice("sharing_basis", SHARING_BASES, required=False) or "INTERNAL_ONLY",
        recorded_by=ctx.actor.user_id,
        device_id=ctx.device_id,
        received_at=ctx.now,
    )
    _not_future(ctx, start_of_day(event.reached_on), "reached_on")
    case = writable_case(ctx, event.case_id, at=start_of_day(event.reached_on))
    _new_id(ctx, MilestoneEvent, event.id)
    ctx.session.add(event)
    return Outcome("milestone", event.id, case.id, sorted(data))


def consent_record(ctx: MutationCtx, data: dict[str, Any]) -> Outcome:
    a = Args(data, ("id", "case_id", "person_id", "scope", "form", "given_on", "withdrawn_on", "note"))
    consent_id, case_id = a.req_uuid("id"), a.req_uuid("case_id")
    person_id = a.uid("person_id", required=False)
    given_on = a.req_date("given_on")
    consent = Consent(
        id=consent_id,
        case_id=case_id,
        scope=a.texts("scope", 100),
        form=a.req_choice("form", CONSENT_FORMS),
        given_on=given_on,
        withdrawn_on=a.date("withdrawn_on"),
        note=a.text("note", NOTE_MAX),
        recorded_by=ctx.actor.user_id,
        received_at=ctx.now,
    )
    _not_future(ctx, start_of_day(given_on), "given_on")
    case = writable_case(ctx, case_id, at=start_of_day(given_on))
    _new_id(ctx, Consent, consent_id)
    if person_id is None or person_id == case.person_id:
        consent.person_id = case.person_id
    else:
        member = ctx.session.scalar(
            select(HouseholdMember.id).where(
                HouseholdMember.household_id == case.household_id, HouseholdMember.person_id == person_id
            )
        )
        if member is None:
            raise Rejected("person_not_found", "person_id")
        consent.person_id = person_id
    ctx.session.add(consent)
    return Outcome("consent", consent_id, case.id, sorted(data))


def consent_withdraw(ctx: MutationCtx, data: dict[str, Any]) -> Outcome:
    a = Args(data, ("id", "withdrawn_on"))
    consent_id, withdrawn_on = a.req_uuid("id"), a.req_date("withdrawn_on")
    consent = ctx.session.get(Consent, consent_id)
    if consent is None:
        raise Rejected("consent_not_found", "id")
    writable_case(ctx, consent.case_id, at=start_of_day(withdrawn_on), name="id")
    if withdrawn_on < consent.given_on:
        raise Rejected("field_invalid", "withdrawn_on")
    consent.withdrawn_on = withdrawn_on
    return Outcome("consent", consent_id, consent.case_id, ["withdrawn_on"])


def alert_acknowledge(ctx: MutationCtx, data: dict[str, Any]) -> Outcome:
    """Through the alert service, the same rules as the office's button: note and next date
    required, the alert must be visible to the actor and not resolved."""
    a = Args(data, ("id", "note", "next_date"))
    alert_id, note, next_date = a.req_uuid("id"), a.text("note", alerts.NOTE_MAX), a.date("next_date")
    try:
        alert = alerts.acknowledge(ctx.session, ctx.actor, alert_id, note, next_date, ctx.now)
    except ApiError as exc:
        if exc.status == 404:
            raise Rejected("alert_not_found", "id") from exc
        if exc.status == 403:
            raise Rejected("forbidden", "id") from exc
        if exc.code == "alert_resolved":
            raise Rejected("alert_resolved", "id") from exc  # kept for review with its note
        field = {"note": "note", "next_date": "next_date"}.get(exc.field or "", exc.field)
        raise Rejected("field_required" if field in ("note", "next_date") else exc.code, field) from exc
    return Outcome("alert", alert_id, alert.case_id, sorted(data), audited=True)


def registry() -> dict[str, Handler]:
    from sync import case_mutations

    return {
        "case.create": case_mutations.case_create,
        "case.update": case_mutations.case_update,
        "contact.create": contact_create,
        "contact.amend": contact_amend,
        "milestone.record": milestone_record,
        "consent.record": consent_record,
        "consent.withdraw": consent_withdraw,
        "alert.acknowledge": alert_acknowledge,
    }
