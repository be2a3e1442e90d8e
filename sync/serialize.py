"""What each pulled entity carries (`data` of a `put`). JSON types only: ids and dates as text,
times in ISO 8601 with their offset (UTC).

A case carries what the app needs to show it without other queries: its version (for
`case.update`), the derived stage and last-reached time, the next action, its status, the person,
the household with its members, the care relations of its person, and the assigned workers.
Contacts, milestones, consents, open alerts and open conflicts are entities of their own, each
with `case_id`, so the app can drop them with their case.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.models import (
    Alert,
    CareRelation,
    Case,
    CaseAssignment,
    CaseConflict,
    Consent,
    Contact,
    Household,
    HouseholdMember,
    MilestoneEvent,
    Person,
)
from server.services import people, progress

_iso = people.iso


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


person = people.person_json


def _name(p: Person | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "id": str(p.id), "family_name": p.family_name, "given_name": p.given_name, "preferred_name": p.preferred_name,
    }  # fmt: skip


def cases(session: Session, rows: Sequence[Case]) -> dict[uuid.UUID, dict[str, Any]]:
    """The pulled form of each case, loaded in a handful of queries for the whole page."""
    if not rows:
        return {}
    ids = [c.id for c in rows]
    household_ids = {c.household_id for c in rows if c.household_id is not None}
    households = {h.id: h for h in session.scalars(select(Household).where(Household.id.in_(household_ids)))}
    members: dict[uuid.UUID, list[tuple[HouseholdMember, Person]]] = defaultdict(list)
    for member, p in session.execute(
        select(HouseholdMember, Person)
        .join(Person, Person.id == HouseholdMember.person_id)
        .where(HouseholdMember.household_id.in_(household_ids))
        .order_by(HouseholdMember.id)
    ):
        members[member.household_id].append((member, p))
    person_ids = {c.person_id for c in rows}
    relations = list(
        session.scalars(
            select(CareRelation)
            .where(or_(CareRelation.carer_id.in_(person_ids), CareRelation.cared_id.in_(person_ids)))
            .order_by(CareRelation.id)
        )
    )
    all_people = person_ids | {r.carer_id for r in relations} | {r.cared_id for r in relations}
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(all_people)))}
    assigned: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for a in session.scalars(
        select(CaseAssignment)
        .where(CaseAssignment.case_id.in_(ids), CaseAssignment.ended_at.is_(None))
        .order_by(CaseAssignment.is_primary.desc(), CaseAssignment.started_at, CaseAssignment.id)
    ):
        assigned[a.case_id].append({"user_id": str(a.user_id), "is_primary": a.is_primary, "since": _iso(a.started_at)})
    stages = progress.stages(session, ids)
    reached = progress.last_reached(session, ids)
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for c in rows:
        household = households.get(c.household_id) if c.household_id else None
        out[c.id] = {
            "id": str(c.id),
            "version": c.version,
            "status": c.status,
            "closed_reason": c.closed_reason,
            "closed_on": _iso(c.closed_on),
            "team_id": str(c.team_id),
            "program_item": c.program_item,
            "categories": list(c.categories or []),
            "referral_source": c.referral_source,
            "identified_on": _iso(c.identified_on),
            "next_action": c.next_action,
            "next_action_due": _iso(c.next_action_due),
            "support_decision": c.support_decision,
            "support_decision_on": _iso(c.support_decision_on),
            "plan_review_due": _iso(c.plan_review_due),
            "stage": stages.get(c.id),
            "last_reached_at": _iso(reached.get(c.id)),
            "person": person(people[c.person_id]),
            "household": _household(household, members.get(household.id, [])) if household else None,
            "care_relations": [
                {
                    "id": str(r.id), "kind": r.kind, "note": r.note,
                    "carer": _name(people.get(r.carer_id)), "cared": _name(people.get(r.cared_id)),
                }
                for r in relations
                if c.person_id in (r.carer_id, r.cared_id)
            ],
            "assigned": assigned.get(c.id, []),
            "created_at": _iso(c.created_at),
            "updated_at": _iso(c.updated_at),
        }
    return out


def _household(h: Household, members: list[tuple[HouseholdMember, Person]]) -> dict[str, Any]:
    return {
        "id": str(h.id),
        "postal_code": h.postal_code,
        "prefecture": h.prefecture,
        "municipality": h.municipality,
        "town": h.town,
        "block": h.block,
        "building": h.building,
        "note": h.note,
        "members": [{**(_name(p) or {}), "person_id": str(p.id), "relationship": m.relationship} for m, p in members],
    }


def contact(c: Contact) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "case_id": str(c.case_id),
        "amends_id": _id(c.amends_id),
        "occurred_at": _iso(c.occurred_at),
        "method": c.method,
        "counterpart": c.counterpart,
        "outcome": c.outcome,
        "reached": c.reached,
        "reception": c.reception,
        "duration_min": c.duration_min,
        "visitor_ids": list(c.visitor_ids or []),
        "risk_flags": list(c.risk_flags or []),
        "notes": c.notes,
        "next_action": c.next_action,
        "next_action_due": _iso(c.next_action_due),
        "sharing_basis": c.sharing_basis,
        "recorded_by": str(c.recorded_by),
        "received_at": _iso(c.received_at),
    }


def milestone(m: MilestoneEvent) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "case_id": str(m.case_id),
        "milestone": m.milestone,
        "reached_on": _iso(m.reached_on),
        "note": m.note,
        "destination": m.destination,
        "sharing_basis": m.sharing_basis,
        "recorded_by": str(m.recorded_by),
        "received_at": _iso(m.received_at),
    }


def consent(c: Consent) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "case_id": str(c.case_id),
        "person_id": str(c.person_id),
        "scope": list(c.scope or []),
        "form": c.form,
        "given_on": _iso(c.given_on),
        "withdrawn_on": _iso(c.withdrawn_on),
        "note": c.note,
        "recorded_by": str(c.recorded_by),
    }


def alert(a: Alert) -> dict[str, Any]:
    return {
        "id": str(a.id),
        "case_id": _id(a.case_id),
        "rule": a.rule,
        "level": a.level,
        "state": a.state,
        "opened_at": _iso(a.opened_at),
        "acknowledged_at": _iso(a.acknowledged_at),
        "acknowledged_by": _id(a.acknowledged_by),
        "ack_note": a.ack_note,
        "ack_next_date": _iso(a.ack_next_date),
    }


def conflict(c: CaseConflict) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "case_id": str(c.case_id),
        "field": c.field,
        "base_version": c.base_version,
        "server_value": (c.server_value or {}).get("value"),
        "client_value": (c.client_value or {}).get("value"),
        "user_id": str(c.user_id),
        "mid": c.mid,
        "created_at": _iso(c.created_at),
    }
