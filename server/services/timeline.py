"""One case's whole picture for the office pages: the visit timeline (contacts and milestones in time
order, amendments beside their original), household and care relations, consents, assignments, review
comments, alerts and open sync conflicts.

Loading a case is a read of case data, so it is audited here (not in the view): whoever shows a case,
in whatever form, leaves a row saying who, which case and when.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import (
    Alert,
    CareRelation,
    Case,
    CaseAssignment,
    CaseConflict,
    CaseReview,
    Consent,
    Contact,
    Household,
    HouseholdMember,
    MilestoneEvent,
    Person,
    Team,
    User,
)
from server.permissions import Actor, Permission, case_scope, get_case
from server.services import audit
from server.services.derived import local_date
from server.services.progress import stage_of


@dataclass
class ContactItem:
    """An attempt as first recorded, with its corrections (oldest first)."""

    original: Contact
    amendments: list[Contact] = field(default_factory=list)

    @property
    def effective(self) -> Contact:
        return self.amendments[-1] if self.amendments else self.original


@dataclass
class Entry:
    kind: str  # "contact" | "milestone"
    day: dt.date  # Tokyo calendar day
    contact: ContactItem | None = None
    milestone: MilestoneEvent | None = None
    stage_after: str | None = None  # for milestones: the stage once this event is counted

    @property
    def sharing_basis(self) -> str:
        if self.contact is not None:
            return self.contact.effective.sharing_basis
        return self.milestone.sharing_basis if self.milestone is not None else ""


@dataclass(frozen=True)
class Member:
    person: Person
    relationship: str
    is_subject: bool


@dataclass(frozen=True)
class CareLink:
    carer: Person
    cared: Person
    kind: str
    note: str


@dataclass
class CaseView:
    case: Case
    person: Person
    team: Team
    household: Household | None
    members: list[Member]
    care: list[CareLink]
    consents: list[Consent]
    entries: list[Entry]
    milestones: list[MilestoneEvent]
    reviews: list[CaseReview]
    alerts: list[Alert]
    assignments: list[CaseAssignment]
    conflicts: list[CaseConflict]
    names: dict[uuid.UUID, str]
    persons: dict[uuid.UUID, Person]
    stage: str | None
    last_reached: dt.datetime | None

    def staff(self, user_id: uuid.UUID | str | None) -> str:
        """A staff member's display name ("?" for an id that is not a known user)."""
        if user_id is None:
            return ""
        try:
            key = user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))
        except ValueError:
            return "?"
        return self.names.get(key, "?")

    @property
    def active_assignments(self) -> list[CaseAssignment]:
        return [a for a in self.assignments if a.ended_at is None]

    @property
    def open_conflicts(self) -> list[CaseConflict]:
        return [c for c in self.conflicts if c.resolved_at is None]

    @property
    def live_alerts(self) -> list[Alert]:
        return [a for a in self.alerts if a.state != "resolved"]


def load_case(
    session: Session,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    action: str = "case.read",
    permission: Permission = Permission.CASE_READ,
) -> CaseView:
    """The case's picture, if it is in the actor's scope (404 otherwise); audited as `action`."""
    case = get_case(session, actor, case_id, permission)
    view = _load(session, case)
    audit.record(session, actor, action, entity="case", entity_id=case.id, case_id=case.id)
    return view


def cases_of_person(session: Session, actor: Actor, case: Case) -> list[uuid.UUID]:
    """Every case of the same person that the actor may read, oldest first (a person can have had
    several: closed, then identified again)."""
    return list(
        session.scalars(
            select(Case.id)
            .where(Case.person_id == case.person_id, case_scope(actor))
            .order_by(Case.identified_on, Case.created_at)
        )
    )


def _load(session: Session, case: Case) -> CaseView:
    person = session.get(Person, case.person_id)
    team = session.get(Team, case.team_id)
    if person is None or team is None:  # impossible with the foreign keys; never show half a case
        raise ApiError(404, "not_found")
    household = session.get(Household, case.household_id) if case.household_id else None

    member_rows = (
        list(
            session.execute(
                select(HouseholdMember, Person)
                .join(Person, Person.id == HouseholdMember.person_id)
                .where(HouseholdMember.household_id == household.id)
                .order_by(Person.id == case.person_id, Person.birth_year, Person.birth_date)
            )
        )
        if household is not None
        else []
    )
    members = [Member(p, m.relationship, p.id == case.person_id) for m, p in member_rows]
    members.sort(key=lambda m: not m.is_subject)
    persons = {person.id: person, **{m.person.id: m.person for m in members}}

    circle = set(persons)
    relations = list(
        session.scalars(
            select(CareRelation).where(or_(CareRelation.carer_id.in_(circle), CareRelation.cared_id.in_(circle)))
        )
    )
    consents = list(session.scalars(select(Consent).where(Consent.case_id == case.id).order_by(Consent.given_on)))
    _fetch_persons(
        session,
        persons,
        [r.carer_id for r in relations] + [r.cared_id for r in relations] + [c.person_id for c in consents],
    )
    care = [CareLink(persons[r.carer_id], persons[r.cared_id], r.kind, r.note) for r in relations]

    contacts = list(session.scalars(select(Contact).where(Contact.case_id == case.id).order_by(Contact.received_at)))
    milestones = list(
        session.scalars(
            select(MilestoneEvent)
            .where(MilestoneEvent.case_id == case.id)
            .order_by(MilestoneEvent.reached_on, MilestoneEvent.received_at)
        )
    )
    entries = _entries(contacts, milestones)
    reviews = list(
        session.scalars(select(CaseReview).where(CaseReview.case_id == case.id).order_by(CaseReview.created_at))
    )
    alerts = list(session.scalars(select(Alert).where(Alert.case_id == case.id).order_by(Alert.opened_at.desc())))
    assignments = list(
        session.scalars(
            select(CaseAssignment)
            .where(CaseAssignment.case_id == case.id)
            .order_by(CaseAssignment.ended_at.is_not(None), CaseAssignment.is_primary.desc(), CaseAssignment.started_at)
        )
    )
    conflicts = list(
        session.scalars(select(CaseConflict).where(CaseConflict.case_id == case.id).order_by(CaseConflict.created_at))
    )
    staff_ids: set[uuid.UUID] = set()
    for c in contacts:
        staff_ids.add(c.recorded_by)
        staff_ids.update(_uuids(c.visitor_ids))
    staff_ids.update(m.recorded_by for m in milestones)
    staff_ids.update(r.author_id for r in reviews)
    staff_ids.update(c.recorded_by for c in consents)
    for a in assignments:
        staff_ids.add(a.user_id)
        if a.assigned_by:
            staff_ids.add(a.assigned_by)
    for k in conflicts:
        staff_ids.add(k.user_id)
        if k.resolved_by:
            staff_ids.add(k.resolved_by)
    staff_ids.update(a.acknowledged_by for a in alerts if a.acknowledged_by)
    names = (
        dict(session.execute(select(User.id, User.display_name).where(User.id.in_(staff_ids))).all())
        if staff_ids
        else {}
    )
    reached_times = [
        e.contact.effective.occurred_at for e in entries if e.contact and e.contact.effective.reached != "none"
    ]
    return CaseView(
        case=case,
        person=person,
        team=team,
        household=household,
        members=members,
        care=care,
        consents=consents,
        entries=entries,
        milestones=milestones,
        reviews=reviews,
        alerts=alerts,
        assignments=assignments,
        conflicts=conflicts,
        names=names,
        persons=persons,
        stage=stage_of((m.milestone, m.reached_on, m.received_at) for m in milestones),
        last_reached=max(reached_times) if reached_times else None,
    )


def _fetch_persons(session: Session, persons: dict[uuid.UUID, Person], ids: Iterable[uuid.UUID]) -> None:
    missing = set(ids) - set(persons)
    if missing:
        for p in session.scalars(select(Person).where(Person.id.in_(missing))):
            persons[p.id] = p


def _uuids(values: Iterable[str]) -> set[uuid.UUID]:
    out = set()
    for v in values or ():
        try:
            out.add(uuid.UUID(str(v)))
        except ValueError:
            continue
    return out


def _entries(contacts: list[Contact], milestones: list[MilestoneEvent]) -> list[Entry]:
    """Contacts and milestones in time order. A milestone has only a date: it goes after that day's
    contacts (it is usually what a visit that day achieved)."""
    amendments: dict[uuid.UUID, list[Contact]] = defaultdict(list)
    originals: list[Contact] = []
    for c in contacts:
        (amendments[c.amends_id] if c.amends_id else originals).append(c)
    keyed: list[tuple[tuple[dt.date, int, dt.datetime], Entry]] = []
    for c in originals:
        item = ContactItem(c, amendments.get(c.id, []))
        at = item.effective.occurred_at
        keyed.append(((local_date(at), 0, at), Entry("contact", local_date(at), contact=item)))
    seen: list[tuple[str, dt.date, dt.datetime]] = []
    for m in milestones:  # already ordered by (reached_on, received_at), as stage_of counts them
        seen.append((m.milestone, m.reached_on, m.received_at))
        entry = Entry("milestone", m.reached_on, milestone=m, stage_after=stage_of(seen))
        keyed.append(((m.reached_on, 1, m.received_at), entry))
    keyed.sort(key=lambda pair: pair[0])
    return [entry for _key, entry in keyed]
