"""One case's whole picture for the office pages: the visit timeline (contacts and milestones in time
order, amendments beside their original), household and care relations, consents, assignments, review
comments, alerts and open sync conflicts.

A case can carry years of visits (the benchmark's has 1,000 contacts): the office page shows the newest
`TIMELINE_PAGE` entries and links to more. The whole history is still ordered (and its last reach
found) from a narrow read of every contact's keys; full rows are loaded only for the entries shown.

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

TIMELINE_PAGE = 100  # entries the case page shows at first; 「さらに表示」 adds as many again
# A timeline entry before it is loaded: its sort key, and an original contact's id or a milestone's index.
_Slot = tuple[tuple[dt.date, int, dt.datetime], uuid.UUID | int]


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
    def anchor(self) -> str:
        """The entry's element id on the case page."""
        if self.contact is not None:
            return f"c-{self.contact.original.id}"
        return f"m-{self.milestone.id}" if self.milestone is not None else ""

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
    total_entries: int  # the whole timeline's length; `entries` may be only its newest part

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
    newest: int | None = None,
) -> CaseView:
    """The case's picture, if it is in the actor's scope (404 otherwise); audited as `action`.
    `newest`: only that many of the latest timeline entries (None: the whole timeline)."""
    case = get_case(session, actor, case_id, permission)
    view = _load(session, case, newest)
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


def _load(session: Session, case: Case, newest: int | None) -> CaseView:
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

    milestones = list(
        session.scalars(
            select(MilestoneEvent)
            .where(MilestoneEvent.case_id == case.id)
            .order_by(MilestoneEvent.reached_on, MilestoneEvent.received_at)
        )
    )
    entries, total, last_reached = _timeline(session, case.id, milestones, newest)
    contacts = [c for e in entries if e.contact for c in (e.contact.original, *e.contact.amendments)]
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
        last_reached=last_reached,
        total_entries=total,
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


def _timeline(
    session: Session, case_id: uuid.UUID, milestones: list[MilestoneEvent], newest: int | None
) -> tuple[list[Entry], int, dt.datetime | None]:
    """(the newest `newest` entries, or all; how many there are in all; the last reach).

    Contacts and milestones in time order. A milestone has only a date: it goes after that day's
    contacts (it is usually what a visit that day achieved). An attempt is placed by its effective
    time (its latest correction's); amendments come in the order the server received them."""
    heads = session.execute(
        select(Contact.id, Contact.amends_id, Contact.occurred_at, Contact.reached)
        .where(Contact.case_id == case_id)
        .order_by(Contact.received_at, Contact.id)
    ).all()
    amendments: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    originals: list[uuid.UUID] = []
    values: dict[uuid.UUID, tuple[dt.datetime, str]] = {}
    for contact_id, amends_id, occurred_at, reached in heads:
        (amendments[amends_id] if amends_id else originals).append(contact_id)
        values[contact_id] = (occurred_at, reached)
    slots: list[_Slot] = []
    last_reached: dt.datetime | None = None
    for contact_id in originals:
        at, reached = values[(amendments.get(contact_id) or [contact_id])[-1]]
        if reached != "none" and (last_reached is None or at > last_reached):
            last_reached = at
        slots.append(((local_date(at), 0, at), contact_id))
    slots.extend(((m.reached_on, 1, m.received_at), i) for i, m in enumerate(milestones))
    slots.sort(key=lambda slot: slot[0])  # stable: same-time attempts keep the order they arrived in
    shown = slots if newest is None or newest >= len(slots) else slots[-newest:]

    wanted = [cid for _k, ref in shown if isinstance(ref, uuid.UUID) for cid in (ref, *amendments.get(ref, ()))]
    rows = select(Contact).where(Contact.case_id == case_id)
    if len(shown) < len(slots):
        rows = rows.where(Contact.id.in_(wanted))
    loaded = {c.id: c for c in session.scalars(rows)}

    # The stage after each milestone counts every earlier one, shown or not.
    stage_after: list[str | None] = []
    seen: list[tuple[str, dt.date, dt.datetime]] = []
    for m in milestones:  # already ordered by (reached_on, received_at), as stage_of counts them
        seen.append((m.milestone, m.reached_on, m.received_at))
        stage_after.append(stage_of(seen))
    entries: list[Entry] = []
    for (day, _, _), ref in shown:
        if isinstance(ref, uuid.UUID):
            item = ContactItem(loaded[ref], [loaded[a] for a in amendments.get(ref, ())])
            entries.append(Entry("contact", day, contact=item))
        else:
            entries.append(Entry("milestone", day, milestone=milestones[ref], stage_after=stage_after[ref]))
    return entries, len(slots), last_reached
