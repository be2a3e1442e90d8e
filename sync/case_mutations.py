"""`case.create` and `case.update`: new cases from the field, and field-level merge of edits.

Merge rule (server/models/case.py): `Case.version` counts accepted updates and
`field_versions[field]` is the version that last changed that field. A `case.update` says which
version it was made on (`base_version`). For each field it changes:
- the server's value already equals the new value → nothing to do;
- nobody changed the field since `base_version` → applied;
- somebody did, but the value the phone started from (`base`, optional) is still the server's
  value → applied (the change in between was undone, or it was this phone's own contact);
- otherwise → not applied: the result is `conflict`, with both values, and a `CaseConflict` row
  lists it for the case's coordinator to settle (server/services/conflicts.py).
Fields that merge cleanly are applied even when others in the same mutation conflict. One accepted
mutation bumps the version once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from server.i18n.dates import TOKYO
from server.kana import kana_key
from server.models import Case, CaseAssignment, CaseConflict, Household, HouseholdMember, Person
from server.permissions import Permission, case_scope
from server.vocab import CATEGORIES, CLOSED_REASONS, REFERRAL_SOURCES, CaseStatus, Role
from sync.fields import Args, Rejected, parse_date
from sync.mutations import SHORT_MAX, MutationCtx, Outcome, _new_id, today, writable_case

PERSON_FIELDS = (
    "id", "family_name", "given_name", "family_name_kana", "given_name_kana", "preferred_name",
    "birth_date", "birth_year", "phone",
)  # fmt: skip
HOUSEHOLD_FIELDS = ("id", "postal_code", "prefecture", "municipality", "town", "block", "building", "note")
SELF = "本人"  # 続柄 of the case's own person in the household


def _person(ctx: MutationCtx, a: Args) -> Person:
    person_id = a.uid("id", required=False) or uuid.uuid4()
    _new_id(ctx, Person, person_id, a.name("id"))
    family_kana, given_kana = a.text("family_name_kana", 100), a.text("given_name_kana", 100)
    return Person(
        id=person_id,
        family_name=a.text("family_name", 100, required=True),
        given_name=a.text("given_name", 100),
        family_name_kana=family_kana,
        given_name_kana=given_kana,
        preferred_name=a.text("preferred_name", 100),
        kana_key=kana_key(family_kana, given_kana),
        birth_date=a.date("birth_date"),
        birth_year=a.integer("birth_year", 1900, 2100),
        phone=a.text("phone", 40),
    )


def _household(ctx: MutationCtx, a: Args) -> tuple[Household, bool]:
    """A new household from the address given, or an existing one the actor already works with."""
    household_id = a.uid("id", required=False) or uuid.uuid4()
    existing = ctx.session.get(Household, household_id)
    if existing is not None:
        in_scope = ctx.session.scalar(
            select(Case.id).where(Case.household_id == household_id, case_scope(ctx.actor)).limit(1)
        )
        if in_scope is None:
            raise Rejected("household_not_found", a.name("id"))
        return existing, False
    household = Household(
        id=household_id,
        postal_code=a.text("postal_code", 10),
        prefecture=a.text("prefecture", 20),
        municipality=a.text("municipality", 50),
        town=a.text("town", 100),
        block=a.text("block", 100),
        building=a.text("building", 200),
        note=a.text("note", 2000),
    )
    return household, True


def case_create(ctx: MutationCtx, data: dict[str, Any]) -> Outcome:
    a = Args(
        data,
        ("id", "person", "household", "categories", "referral_source", "identified_on", "next_action",
         "next_action_due"),
    )  # fmt: skip
    if not ctx.actor.can(Permission.CASE_WRITE):
        raise Rejected("forbidden")
    case_id = a.req_uuid("id")
    person_args = a.req_obj("person", PERSON_FIELDS)
    household_args = a.obj("household", HOUSEHOLD_FIELDS)
    categories = a.choices("categories", CATEGORIES)
    referral_source = a.req_choice("referral_source", REFERRAL_SOURCES)
    identified_on = a.date("identified_on") or (ctx.client_time or ctx.now).astimezone(TOKYO).date()
    if identified_on > today(ctx) + dt.timedelta(days=1):
        raise Rejected("field_invalid", "identified_on")
    next_action, next_action_due = a.text("next_action", SHORT_MAX), a.date("next_action_due")
    _new_id(ctx, Case, case_id)
    person = _person(ctx, person_args)
    ctx.session.add(person)
    # The models declare no relationship(), so the unit of work does not order these inserts by
    # their foreign keys: the person row must exist before the case row that points at it.
    ctx.session.flush()
    household_id = None
    if household_args is not None:
        household, new = _household(ctx, household_args)
        if new:
            ctx.session.add(household)
        ctx.session.flush()
        ctx.session.add(HouseholdMember(household_id=household.id, person_id=person.id, relationship=SELF))
        household_id = household.id
    ctx.session.add(
        Case(
            id=case_id,
            person_id=person.id,
            household_id=household_id,
            team_id=ctx.actor.team_id,
            status=CaseStatus.OPEN,
            categories=categories,
            referral_source=referral_source,
            identified_on=identified_on,
            next_action=next_action,
            next_action_due=next_action_due,
            created_by=ctx.actor.user_id,
            created_at=ctx.now,
            version=1,
            field_versions={},
        )
    )
    ctx.session.flush()
    if ctx.actor.role == Role.WORKER:  # a worker's new case is theirs, as primary
        ctx.session.add(
            CaseAssignment(
                case_id=case_id, user_id=ctx.actor.user_id, is_primary=True, started_at=ctx.now,
                assigned_by=ctx.actor.user_id,
            )
        )  # fmt: skip
    return Outcome("case", case_id, case_id, sorted(data))


# --- case.update -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    parse: Callable[[Any, str], Any]  # JSON value -> Python value (raises Rejected)
    review: bool = False  # only holders of CASE_REVIEW (coordinators, supervisors) may change it


def _text(max_len: int, required: bool = False) -> Callable[[Any, str], Any]:
    def parse(value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise Rejected("field_invalid", name)
        if len(value) > max_len:
            raise Rejected("field_too_long", name)
        if required and not value.strip():
            raise Rejected("field_required", name)
        return value

    return parse


def _date(required: bool = False) -> Callable[[Any, str], Any]:
    def parse(value: Any, name: str) -> dt.date | None:
        if value is None or value == "":
            if required:
                raise Rejected("field_required", name)
            return None
        return parse_date(value, name)

    return parse


def _choice(allowed: tuple[str, ...], optional: bool = False) -> Callable[[Any, str], Any]:
    def parse(value: Any, name: str) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise Rejected("field_invalid", name)
        if value not in allowed:
            raise Rejected("value_not_allowed", name)
        return value

    return parse


def _categories(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Rejected("field_invalid", name)
    if any(v not in CATEGORIES for v in value):
        raise Rejected("value_not_allowed", name)
    return list(dict.fromkeys(value))


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise Rejected("field_invalid", name)
    return value


def _birth_year(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1900 <= value <= 2100:
        raise Rejected("field_invalid", name)
    return value


FIELDS: dict[str, FieldSpec] = {
    "next_action": FieldSpec(_text(SHORT_MAX)),
    "next_action_due": FieldSpec(_date()),
    "categories": FieldSpec(_categories),
    "referral_source": FieldSpec(_choice(REFERRAL_SOURCES)),
    "identified_on": FieldSpec(_date(required=True)),
    "status": FieldSpec(_choice(tuple(CaseStatus)), review=True),
    "closed_reason": FieldSpec(_choice(CLOSED_REASONS, optional=True), review=True),
    "closed_on": FieldSpec(_date(), review=True),
    "support_decision": FieldSpec(_bool, review=True),
    "support_decision_on": FieldSpec(_date(), review=True),
    "plan_review_due": FieldSpec(_date(), review=True),
    "person.family_name": FieldSpec(_text(100, required=True)),
    "person.given_name": FieldSpec(_text(100)),
    "person.family_name_kana": FieldSpec(_text(100)),
    "person.given_name_kana": FieldSpec(_text(100)),
    "person.preferred_name": FieldSpec(_text(100)),
    "person.birth_date": FieldSpec(_date()),
    "person.birth_year": FieldSpec(_birth_year),
    "person.phone": FieldSpec(_text(40)),
}


def to_json(value: Any) -> Any:
    """A field value as it travels and as conflicts store it (dates as ISO 8601 text)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return list(value)
    return value


def _target(case: Case, person: Person, field: str) -> tuple[Any, str]:
    return (person, field.removeprefix("person.")) if field.startswith("person.") else (case, field)


def case_update(ctx: MutationCtx, data: dict[str, Any]) -> Outcome:
    a = Args(data, ("id", "base_version", "changes", "base"))
    case_id = a.req_uuid("id")
    base_version = a.req_integer("base_version", 1, 1 << 31)
    raw_changes, raw_base = data.get("changes"), data.get("base") or {}
    if not isinstance(raw_changes, dict) or not raw_changes:
        raise Rejected("field_invalid" if raw_changes is not None else "field_required", "changes")
    if not isinstance(raw_base, dict):
        raise Rejected("field_invalid", "base")
    changes: dict[str, Any] = {}
    base: dict[str, Any] = {}
    for name, raw in raw_changes.items():
        spec = FIELDS.get(name)
        if spec is None:
            raise Rejected("field_unknown", f"changes.{name}")
        if spec.review and not ctx.actor.can(Permission.CASE_REVIEW):
            raise Rejected("field_not_allowed", f"changes.{name}")
        changes[name] = spec.parse(raw, f"changes.{name}")
        if name in raw_base:
            base[name] = spec.parse(raw_base[name], f"base.{name}")
    if set(raw_base) - set(raw_changes):
        raise Rejected("field_unknown", f"base.{sorted(set(raw_base) - set(raw_changes))[0]}")
    case = writable_case(ctx, case_id, name="id")
    if base_version > case.version:
        raise Rejected("field_invalid", "base_version")
    person = ctx.session.get_one(Person, case.person_id)
    versions = dict(case.field_versions or {})
    apply: dict[str, Any] = {}
    conflicts: list[dict[str, Any]] = []
    for name, value in changes.items():
        obj, attr = _target(case, person, name)
        server_json, client_json = to_json(getattr(obj, attr)), to_json(value)
        if server_json == client_json:
            continue
        changed_since = int(versions.get(name, 0)) > base_version
        if changed_since and not (name in base and to_json(base[name]) == server_json):
            row = CaseConflict(
                case_id=case.id, field=name, base_version=base_version, server_value={"value": server_json},
                client_value={"value": client_json}, user_id=ctx.actor.user_id, device_id=ctx.device_id,
                mid=ctx.mid, created_at=ctx.now,
            )  # fmt: skip
            ctx.session.add(row)
            ctx.session.flush()
            conflicts.append(
                {"id": str(row.id), "field": name, "base_version": base_version, "server_version": case.version,
                 "server_value": server_json, "client_value": client_json}
            )  # fmt: skip
        else:
            apply[name] = value
    if apply:
        case.version += 1
        for name, value in apply.items():
            obj, attr = _target(case, person, name)
            setattr(obj, attr, value)
            versions[name] = case.version
        case.field_versions = versions
        if {"person.family_name_kana", "person.given_name_kana"} & set(apply):
            person.kana_key = kana_key(person.family_name_kana, person.given_name_kana)
    for c in conflicts:
        c["server_version"] = case.version
    return Outcome(
        "case", case.id, case.id, sorted(apply) + sorted(c["field"] for c in conflicts),
        status="conflict" if conflicts else "applied", conflicts=conflicts,
    )  # fmt: skip
