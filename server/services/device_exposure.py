"""Which persons' records a device has held — what a leak report about a lost phone needs.

Derived from the sync log, not from what the phone says (the phone is the thing that is lost):
- every pull page writes one audit row per case whose records it carried to the device
  (`sync.pull`, with `device_id` and `case_id`: sync/pull.py), and the audit log is hash-chained
  and kept for years;
- every mutation the device pushed is kept in `sync_mutation` with its `case_id` (a case created
  on the phone was on the phone before the server ever sent it).

A case's pulled form shows its person, the members of its household and the other side of the
person's care relations (sync/serialize.py), so all of them are listed. Household membership and
care relations are read as they are now: a member who left the household since is not listed (the
report says so), while the case's own person always is.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from server.models import AuditEvent, CareRelation, Case, Device, HouseholdMember, Person, SyncMutation, User
from server.permissions import Actor
from server.services import audit
from server.services.devices import get_device

CASE_PERSON = "case_person"
HOUSEHOLD_MEMBER = "household_member"
CARE_RELATION = "care_relation"
_ORDER = {CASE_PERSON: 0, HOUSEHOLD_MEMBER: 1, CARE_RELATION: 2}


@dataclass(frozen=True)
class HeldCase:
    case_id: uuid.UUID
    first_at: dt.datetime
    last_at: dt.datetime


@dataclass(frozen=True)
class HeldPerson:
    person: Person
    relation: str  # case_person | household_member | care_relation
    case_id: uuid.UUID
    first_at: dt.datetime
    last_at: dt.datetime


@dataclass(frozen=True)
class Exposure:
    device: Device
    user: User
    cases: list[HeldCase]
    persons: list[HeldPerson]


def held_cases(session: Session, device_id: uuid.UUID) -> list[HeldCase]:
    """Every case whose records went to the device (pulls) or came from it (pushes)."""
    pulled = session.execute(
        select(AuditEvent.case_id, func.min(AuditEvent.at), func.max(AuditEvent.at))
        .where(AuditEvent.device_id == device_id, AuditEvent.action == "sync.pull", AuditEvent.case_id.is_not(None))
        .group_by(AuditEvent.case_id)
    ).all()
    pushed = session.execute(
        select(SyncMutation.case_id, func.min(SyncMutation.received_at), func.max(SyncMutation.received_at))
        .where(SyncMutation.device_id == device_id, SyncMutation.case_id.is_not(None))
        .group_by(SyncMutation.case_id)
    ).all()
    spans: dict[uuid.UUID, tuple[dt.datetime, dt.datetime]] = {}
    for case_id, first, last in [*pulled, *pushed]:
        if case_id is None:
            continue
        old = spans.get(case_id)
        spans[case_id] = (min(old[0], first), max(old[1], last)) if old else (first, last)
    out = [HeldCase(case_id=c, first_at=f, last_at=la) for c, (f, la) in spans.items()]
    out.sort(key=lambda h: (h.first_at, str(h.case_id)))
    return out


def _persons_of(session: Session, held: list[HeldCase]) -> list[HeldPerson]:
    span = {h.case_id: h for h in held}
    cases = list(session.scalars(select(Case).where(Case.id.in_(span))))  # a rejected case.create has none
    found: dict[tuple[uuid.UUID, uuid.UUID], str] = {}

    def note(person_id: uuid.UUID, case_id: uuid.UUID, relation: str) -> None:
        key = (person_id, case_id)
        if key not in found or _ORDER[relation] < _ORDER[found[key]]:
            found[key] = relation

    for c in cases:
        note(c.person_id, c.id, CASE_PERSON)
    households = {c.household_id: c.id for c in cases if c.household_id is not None}
    for case_household, person_id in session.execute(
        select(HouseholdMember.household_id, HouseholdMember.person_id).where(
            HouseholdMember.household_id.in_(households)
        )
    ):
        for c in cases:
            if c.household_id == case_household:
                note(person_id, c.id, HOUSEHOLD_MEMBER)
    by_person: dict[uuid.UUID, list[uuid.UUID]] = {}
    for c in cases:
        by_person.setdefault(c.person_id, []).append(c.id)
    for carer, cared in session.execute(
        select(CareRelation.carer_id, CareRelation.cared_id).where(
            or_(CareRelation.carer_id.in_(by_person), CareRelation.cared_id.in_(by_person))
        )
    ):
        for own, other in ((carer, cared), (cared, carer)):
            for case_id in by_person.get(own, []):
                note(other, case_id, CARE_RELATION)
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_({p for p, _ in found})))}
    out = [
        HeldPerson(person=people[p], relation=r, case_id=c, first_at=span[c].first_at, last_at=span[c].last_at)
        for (p, c), r in found.items()
        if p in people
    ]
    out.sort(
        key=lambda h: (h.first_at, str(h.case_id), _ORDER[h.relation], h.person.family_name_kana, str(h.person.id))
    )
    return out


def exposure(session: Session, actor: Actor | None, device_id: uuid.UUID) -> Exposure:
    """The device, its user, the cases it held and the persons shown in them. The query itself is
    audited: it reads who the device's cases are about."""
    device = get_device(session, actor, device_id)
    user = session.get(User, device.user_id)
    if user is None:  # the foreign key makes this impossible; keeps the type honest
        raise LookupError("device without a user")
    cases = held_cases(session, device.id)
    persons = _persons_of(session, cases)
    audit.record(
        session, actor, "device.exposure_listed", entity="device", entity_id=device.id, device_id=device.id,
        detail=f"cases={len(cases)} persons={len({p.person.id for p in persons})}",
    )  # fmt: skip
    return Exposure(device=device, user=user, cases=cases, persons=persons)
