"""One person's whole record, for a 開示請求 (a disclosure request under the APPI): every case of the
person that the requester's office may read, with everything recorded in it, as JSON and as the data
behind a printable page.

Only office roles (CASE_REVIEW) export; each case included is audited as `case.export`. The record
also holds third parties' data (family members, staff); deciding what to withhold is the office's job
before handing it over, so the printable page reminds them.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from server.db import utcnow
from server.models import Contact
from server.permissions import Actor, Permission, get_case
from server.services import people
from server.services.timeline import CaseView, cases_of_person, load_case

FORMAT = "yorisoi.disclosure/1"


def person_cases(session: Session, actor: Actor, case_id: uuid.UUID) -> list[CaseView]:
    """The views of every readable case of the person at the centre of `case_id` (audited)."""
    case = get_case(session, actor, case_id, Permission.CASE_REVIEW)
    return [
        load_case(session, actor, cid, action="case.export", permission=Permission.CASE_REVIEW)
        for cid in cases_of_person(session, actor, case)
    ]


_iso = people.iso


_person = people.person_json


def _contact(c: Contact, view: CaseView) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "amends_id": str(c.amends_id) if c.amends_id else None,
        "occurred_at": _iso(c.occurred_at),
        "method": c.method,
        "counterpart": c.counterpart,
        "outcome": c.outcome,
        "reached": c.reached,
        "reception": c.reception,
        "duration_min": c.duration_min,
        "visitors": [view.staff(v) for v in c.visitor_ids],
        "risk_flags": list(c.risk_flags),
        "notes": c.notes,
        "next_action": c.next_action,
        "next_action_due": _iso(c.next_action_due),
        "sharing_basis": c.sharing_basis,
        "recorded_by": view.staff(c.recorded_by),
        "received_at": _iso(c.received_at),
    }


def case_json(view: CaseView) -> dict[str, Any]:
    c = view.case
    h = view.household
    contacts = []
    for entry in view.entries:
        if entry.contact is not None:
            item = _contact(entry.contact.original, view)
            item["amendments"] = [_contact(a, view) for a in entry.contact.amendments]
            contacts.append(item)
    return {
        "id": str(c.id),
        "team": view.team.name,
        "program_item": c.program_item,
        "status": c.status,
        "closed_reason": c.closed_reason,
        "closed_on": _iso(c.closed_on),
        "categories": list(c.categories),
        "referral_source": c.referral_source,
        "identified_on": _iso(c.identified_on),
        "stage": view.stage,
        "next_action": c.next_action,
        "next_action_due": _iso(c.next_action_due),
        "support_decision": c.support_decision,
        "support_decision_on": _iso(c.support_decision_on),
        "plan_review_due": _iso(c.plan_review_due),
        "household": None
        if h is None
        else {
            "postal_code": h.postal_code,
            "prefecture": h.prefecture,
            "municipality": h.municipality,
            "town": h.town,
            "block": h.block,
            "building": h.building,
            "note": h.note,
            "members": [
                {"person": _person(m.person), "relationship": m.relationship, "is_subject": m.is_subject}
                for m in view.members
            ],
        },
        "care_relations": [
            {"carer": _person(k.carer), "cared": _person(k.cared), "kind": k.kind, "note": k.note} for k in view.care
        ],
        "consents": [
            {
                "person": _person(view.persons[k.person_id]) if k.person_id in view.persons else None,
                "scope": list(k.scope),
                "form": k.form,
                "given_on": _iso(k.given_on),
                "withdrawn_on": _iso(k.withdrawn_on),
                "note": k.note,
                "recorded_by": view.staff(k.recorded_by),
            }
            for k in view.consents
        ],
        "contacts": contacts,
        "milestones": [
            {
                "id": str(m.id),
                "milestone": m.milestone,
                "reached_on": _iso(m.reached_on),
                "note": m.note,
                "destination": m.destination,
                "sharing_basis": m.sharing_basis,
                "recorded_by": view.staff(m.recorded_by),
                "received_at": _iso(m.received_at),
            }
            for m in view.milestones
        ],
        "reviews": [
            {
                "author": view.staff(r.author_id),
                "body": r.body,
                "sharing_basis": r.sharing_basis,
                "created_at": _iso(r.created_at),
            }
            for r in view.reviews
        ],
        "assignments": [
            {
                "worker": view.staff(a.user_id),
                "primary": a.is_primary,
                "started_at": _iso(a.started_at),
                "ended_at": _iso(a.ended_at),
            }
            for a in view.assignments
        ],
        "alerts": [
            {
                "rule": a.rule,
                "level": a.level,
                "state": a.state,
                "opened_at": _iso(a.opened_at),
                "resolved_at": _iso(a.resolved_at),
                "ack_note": a.ack_note,
            }
            for a in view.alerts
        ],
    }


def person_json(views: list[CaseView]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "exported_at": _iso(utcnow()),
        "person": _person(views[0].person) if views else None,
        "cases": [case_json(v) for v in views],
    }
