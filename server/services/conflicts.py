"""Settling a sync conflict on a case field: a coordinator keeps the server's value or applies the
phone's. Applying the phone's value is an ordinary accepted update: `Case.version` goes up by one and
`field_versions[field]` records that version, so phones that edited an older version merge against it.

Kept in its own module so the sync engine's versioning rules and this one can be reconciled in one
place. `FIELDS` mirrors the fields a phone's `case.update` may change (sync/case_mutations.py; services
do not import sync/, so the list is repeated here and a test keeps the two equal); `person.*` fields
live on the case's person but are versioned on the case, as the sync engine does. Values are checked as
strictly as a phone's update would be: a stored conflict is data that came from a phone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import utcnow
from server.errors import ApiError
from server.kana import kana_key
from server.models import Case, CaseConflict, Person
from server.permissions import Actor, Permission, get_case
from server.services import audit
from server.vocab import CATEGORIES, CLOSED_REASONS, REFERRAL_SOURCES, CaseStatus

CHOICES = ("server", "client")


def _text(max_len: int, required: bool = False) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or len(value) > max_len or (required and not value.strip()):
            raise ValueError("text")
        return value

    return check


def _required_date(value: Any) -> dt.date:
    parsed = _date(value)
    if parsed is None:
        raise ValueError("date")
    return parsed


def _birth_year(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1900 <= value <= 2100:
        raise ValueError("year")
    return value


def _date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    raise ValueError("date")


def _one_of(allowed: tuple[str, ...] | frozenset[str], optional: bool = False) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is None and optional:
            return None
        if value not in allowed:
            raise ValueError("vocab")
        return value

    return check


def _categories(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(v in CATEGORIES for v in value):
        raise ValueError("categories")
    return list(dict.fromkeys(value))


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("bool")
    return value


FIELDS: dict[str, Callable[[Any], Any]] = {
    "next_action": _text(2000),
    "next_action_due": _date,
    "identified_on": _required_date,
    "status": _one_of(tuple(CaseStatus)),
    "closed_reason": _one_of(CLOSED_REASONS, optional=True),
    "closed_on": _date,
    "categories": _categories,
    "referral_source": _one_of(REFERRAL_SOURCES),
    "support_decision": _bool,
    "support_decision_on": _date,
    "plan_review_due": _date,
    "person.family_name": _text(100, required=True),
    "person.given_name": _text(100),
    "person.family_name_kana": _text(100),
    "person.given_name_kana": _text(100),
    "person.preferred_name": _text(100),
    "person.birth_date": _date,
    "person.birth_year": _birth_year,
    "person.phone": _text(40),
}


def settle(
    session: Session, actor: Actor, case_id: uuid.UUID, conflict_id: uuid.UUID, choice: str
) -> CaseConflict:
    case = get_case(session, actor, case_id, Permission.CASE_REVIEW)
    if choice not in CHOICES:
        raise ApiError(422, "invalid_request", field="choice")
    conflict = session.scalar(
        select(CaseConflict).where(CaseConflict.id == conflict_id, CaseConflict.case_id == case.id)
    )
    if conflict is None:
        raise ApiError(404, "not_found")
    if conflict.resolved_at is not None:
        raise ApiError(409, "already_settled")
    if choice == "client":
        apply_value(session, case, conflict.field, (conflict.client_value or {}).get("value"))
    conflict.resolved_at = utcnow()
    conflict.resolved_by = actor.user_id
    conflict.resolution = choice
    audit.record(
        session,
        actor,
        "conflict.settle",
        entity="case_conflict",
        entity_id=conflict.id,
        case_id=case.id,
        fields=[conflict.field],
        detail=choice,
    )
    return conflict


def apply_value(session: Session, case: Case, field: str, raw: Any) -> None:
    """Set one case (or case person) field as an accepted update (version bump, field version stamped)."""
    check = FIELDS.get(field)
    if check is None:
        raise ApiError(422, "invalid_request", field="field")
    try:
        value = check(raw)
    except (ValueError, TypeError) as exc:
        raise ApiError(422, "invalid_request", field="value") from exc
    if field.startswith("person."):
        person = session.get_one(Person, case.person_id)
        setattr(person, field.removeprefix("person."), value)
        if field in ("person.family_name_kana", "person.given_name_kana"):
            person.kana_key = kana_key(person.family_name_kana, person.given_name_kana)
    else:
        setattr(case, field, value)
    case.version = (case.version or 0) + 1
    # A new dict, so the JSON column is seen as changed.
    case.field_versions = {**(case.field_versions or {}), field: case.version}
