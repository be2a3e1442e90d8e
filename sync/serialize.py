"""What each pulled entity carries (`data` of a `put`). On the wire ids and dates are text, times
ISO 8601 with their offset (UTC); the entities' rows keep them as UUID, date and datetime values,
which the answer's encoder (orjson) writes in exactly that form.

A case carries what the app needs to show it without other queries: its version (for
`case.update`), the derived stage and last-reached time, the next action, its status, the person,
the household with its members, the care relations of its person, and the assigned workers.
Contacts, milestones, consents, open alerts and open conflicts are entities of their own, each
with `case_id`, so the app can drop them with their case.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Text, cast, or_, select
from sqlalchemy.orm import Session

from server.models import CareRelation, CaseAssignment, Household, HouseholdMember, Person
from server.models.sync_stamp import among
from server.services import people, progress
from sync import wire

_iso = people.iso

# The columns each serializer reads. The pull reads exactly these (and the stream's key) as plain
# Core rows: thousands of rows per pull, where ORM objects cost more than the rest together.
READS: dict[str, tuple[str, ...]] = {
    "case": (
        "id", "version", "status", "closed_reason", "closed_on", "team_id", "program_item", "categories",
        "referral_source", "identified_on", "next_action", "next_action_due", "support_decision",
        "support_decision_on", "plan_review_due", "person_id", "household_id", "created_at", "updated_at",
    ),
    "contact": (
        "id", "case_id", "amends_id", "occurred_at", "method", "counterpart", "outcome", "reached", "reception",
        "duration_min", "visitor_ids", "risk_flags", "notes", "next_action", "next_action_due", "sharing_basis",
        "recorded_by", "received_at",
    ),
    "milestone": (
        "id", "case_id", "milestone", "reached_on", "note", "destination", "sharing_basis", "recorded_by",
        "received_at",
    ),
    "consent": ("id", "case_id", "person_id", "scope", "form", "given_on", "withdrawn_on", "note", "recorded_by"),
    "alert": (
        "id", "case_id", "rule", "level", "state", "opened_at", "acknowledged_at", "acknowledged_by", "ack_note",
        "ack_next_date",
    ),
    "conflict": (
        "id", "case_id", "field", "base_version", "server_value", "client_value", "user_id", "mid", "created_at",
    ),
}  # fmt: skip

# What people.person_json and _name read, and what a household shows.
_PERSON = [Person.__table__.c[n] for n in ("id", "family_name", "given_name", "family_name_kana", "given_name_kana",
                                            "preferred_name", "birth_date", "birth_year", "phone")]  # fmt: skip
_HOUSEHOLD = [Household.__table__.c[n] for n in ("id", "postal_code", "prefecture", "municipality", "town",
                                                  "block", "building", "note")]  # fmt: skip


person = people.person_json


def read_as(column: Column[Any], sent_only: bool = False) -> Any:
    """How the pull reads a column: JSON columns as their text, parsed by `_json` (orjson) — the
    drivers' `json.loads` (SQLAlchemy's on SQLite, psycopg's on PostgreSQL) was the largest single
    cost of an initial pull (≈ 35,000 small lists per chain); ids, times and dates that are only
    sent as their wire text (sync/wire.py); the other columns as they are."""
    if isinstance(column.type, JSON):
        return cast(column, Text).label(column.key)
    if sent_only:
        as_text = wire.text(column)
        return column if as_text is None else as_text
    return column


def _json(text: str | None) -> Any:
    """A JSON column's value from its text (`read_as`): what the driver's json.loads gave. orjson
    refuses a few things json.loads accepts (a lone surrogate escape, NaN); those fall back to it."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _name(p: Any) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "id": str(p.id), "family_name": p.family_name, "given_name": p.given_name, "preferred_name": p.preferred_name,
    }  # fmt: skip


def cases(session: Session, rows: Sequence[Any]) -> dict[uuid.UUID, dict[str, Any]]:
    """The pulled form of each case (rows with the `READS["case"]` columns), loaded in a handful of
    queries for the whole page."""
    if not rows:
        return {}
    ids = [c.id for c in rows]
    household_ids = {c.household_id for c in rows if c.household_id is not None}
    households = {
        h.id: h for h in session.execute(select(*_HOUSEHOLD).where(among(session, Household.id, household_ids)))
    }
    members: dict[uuid.UUID, list[Any]] = defaultdict(list)  # rows: the person and `relationship`
    for m in session.execute(
        select(HouseholdMember.household_id.label("member_of"), HouseholdMember.relationship, *_PERSON)
        .join(Person, Person.id == HouseholdMember.person_id)
        .where(among(session, HouseholdMember.household_id, household_ids))
        .order_by(HouseholdMember.id)
    ):
        members[m.member_of].append(m)
    person_ids = {c.person_id for c in rows}
    relations = session.execute(
        select(CareRelation.id, CareRelation.kind, CareRelation.note, CareRelation.carer_id, CareRelation.cared_id)
        .where(
            or_(among(session, CareRelation.carer_id, person_ids), among(session, CareRelation.cared_id, person_ids))
        )
        .order_by(CareRelation.id)
    ).all()
    all_people = person_ids | {r.carer_id for r in relations} | {r.cared_id for r in relations}
    found: dict[uuid.UUID, Any] = {
        p.id: p for p in session.execute(select(*_PERSON).where(among(session, Person.id, all_people)))
    }
    assigned: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for case_id, user_id, is_primary, started_at in session.execute(
        select(CaseAssignment.case_id, CaseAssignment.user_id, CaseAssignment.is_primary, CaseAssignment.started_at)
        .where(among(session, CaseAssignment.case_id, ids), CaseAssignment.ended_at.is_(None))
        .order_by(CaseAssignment.is_primary.desc(), CaseAssignment.started_at, CaseAssignment.id)
    ):
        assigned[case_id].append({"user_id": str(user_id), "is_primary": is_primary, "since": _iso(started_at)})
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
            "categories": _list(c.categories),
            "referral_source": c.referral_source,
            "identified_on": _iso(c.identified_on),
            "next_action": c.next_action,
            "next_action_due": _iso(c.next_action_due),
            "support_decision": c.support_decision,
            "support_decision_on": _iso(c.support_decision_on),
            "plan_review_due": _iso(c.plan_review_due),
            "stage": stages.get(c.id),
            "last_reached_at": _iso(reached.get(c.id)),
            "person": person(found[c.person_id]),
            "household": _household(household, members.get(household.id, [])) if household else None,
            "care_relations": [
                {
                    "id": str(r.id), "kind": r.kind, "note": r.note,
                    "carer": _name(found.get(r.carer_id)), "cared": _name(found.get(r.cared_id)),
                }
                for r in relations
                if c.person_id in (r.carer_id, r.cared_id)
            ],
            "assigned": assigned.get(c.id, []),
            "created_at": _iso(c.created_at),
            "updated_at": _iso(c.updated_at),
        }
    return out


def _household(h: Any, members: list[Any]) -> dict[str, Any]:
    return {
        "id": str(h.id),
        "postal_code": h.postal_code,
        "prefecture": h.prefecture,
        "municipality": h.municipality,
        "town": h.town,
        "block": h.block,
        "building": h.building,
        "note": h.note,
        "members": [{**(_name(p) or {}), "person_id": str(p.id), "relationship": p.relationship} for p in members],
    }


def _plain(entity: str, convert: dict[str, Callable[[Any], Any]]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """A serializer of a row holding the `READS[entity]` columns first, in that order (more may
    follow): the columns by name, some converted to JSON types. By position, not `row.name`: a pull
    serializes thousands of rows and a Core row's attribute lookup costs 20 times an index."""
    names = READS[entity]
    steps = tuple(convert.items())

    def serialize(row: Sequence[Any]) -> dict[str, Any]:
        data = dict(zip(names, row, strict=False))
        for name, to_json in steps:
            data[name] = to_json(data[name])
        return data

    return serialize


def _list(text: str | None) -> list[str]:
    return list(_json(text) or [])


def _value(text: str | None) -> Any:
    return (_json(text) or {}).get("value")


# ids, dates and times stay Python values: the answer is encoded by orjson (server.views.base.
# FastJSONResponse), which writes them as str() and isoformat() would, without a call per field.
contact = _plain("contact", {"visitor_ids": _list, "risk_flags": _list})
milestone = _plain("milestone", {})
consent = _plain("consent", {"scope": _list})
alert = _plain("alert", {})
conflict = _plain("conflict", {"server_value": _value, "client_value": _value})
