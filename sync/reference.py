"""Reference data the app needs to show its cases: the people it will see named (team members and
the workers assigned to its cases: id, display name, role), the milestone ladder as the city
configured it (labels, hidden steps), and every vocabulary, each id with its label in Japanese and
English from the message catalogues.

Sent as one `{"entity": "reference", "id": "reference"}` put, only when the client does not have
this exact version: the cursor carries a short hash of what was last sent, so an empty incremental
pull stays a few hundred bytes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import i18n, vocab
from server.models import Case, CaseAssignment, Team, User
from server.models.sync_stamp import seq_taken
from server.permissions import Actor, sync_case_scope, team_scope
from server.services import ladder

ENTITY = "reference"

# vocabulary name (as in the catalogue keys) -> ids, in display order
VOCABULARIES: dict[str, Iterable[str]] = {
    "method": vocab.CONTACT_METHODS,
    "counterpart": vocab.COUNTERPARTS,
    "outcome": vocab.OUTCOMES,
    "reached": ("person", "family", "none"),
    "reception": vocab.RECEPTIONS,
    "risk_flag": vocab.RISK_FLAGS,
    "sharing_basis": vocab.SHARING_BASES,
    "consent_form": vocab.CONSENT_FORMS,
    "category": vocab.CATEGORIES,
    "referral_source": vocab.REFERRAL_SOURCES,
    "case_status": tuple(vocab.CaseStatus),
    "closed_reason": vocab.CLOSED_REASONS,
    "alert_rule": vocab.ALERT_RULES,
    "alert_level": vocab.ALERT_LEVELS,
    "alert_state": tuple(vocab.AlertState),
    "role": tuple(vocab.Role),
}


def _labels(key: str) -> dict[str, str]:
    return {lang: i18n.t(lang, key) for lang in i18n.LANGUAGES}


@cache
def _static() -> dict[str, Any]:
    """The vocabularies: the same for everyone, built once per process. (The milestone ladder is
    not here: each city configures its own, see server/services/ladder.py.)"""
    vocabularies: dict[str, list[dict[str, Any]]] = {}
    for name, ids in VOCABULARIES.items():
        entries = []
        for value in ids:
            entry: dict[str, Any] = {"id": str(value), "labels": _labels(f"{name}.{value}")}
            if name == "outcome":
                entry["reached"] = vocab.OUTCOMES[str(value)]
                entry["urgent"] = value in vocab.URGENT_OUTCOMES
            entries.append(entry)
        vocabularies[name] = entries
    return {"vocab": vocabularies}


def build(session: Session, actor: Actor) -> dict[str, Any]:
    assigned = select(CaseAssignment.user_id).where(
        CaseAssignment.ended_at.is_(None),
        CaseAssignment.case_id.in_(select(Case.id).where(sync_case_scope(actor))),
    )
    in_teams = select(User.id).join(Team, Team.id == User.team_id).where(team_scope(actor), User.is_active)
    members = session.execute(
        select(User.id, User.display_name, User.role, User.team_id)
        .where(User.id.in_(in_teams.union(assigned)))
        .order_by(User.id)
    )
    return {
        "members": [
            {"id": str(uid), "display_name": name, "role": role, "team_id": str(team_id)}
            for uid, name, role, team_id in members
        ],
        "milestones": [step.reference() for step in ladder.for_municipality(session, actor.municipality_id).steps],
        **_static(),
    }


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@cache
def _static_digest() -> str:
    return _hash(_static())


STATIC_TAG = 6  # characters of a digest that hash the static part alone


def digest(data: dict[str, Any]) -> str:
    """A short hash of the reference data: a change of the members or of the city's ladder changes
    it, and the phone receives the reference again. It starts with a hash of the static part alone
    (the vocabularies of this server version, hashed once per process), so that an up-to-date pull
    can tell that a new version's labels are due without building the rest (`static_current`)."""
    return _static_digest()[:STATIC_TAG] + _hash([data["members"], data["milestones"]])[:10]


def static_current(ref: str) -> bool:
    """Whether a digest the client holds has this server version's static part."""
    return ref.startswith(_static_digest()[:STATIC_TAG])


_CACHE: dict[tuple[Any, ...], tuple[dict[str, Any], str]] = {}
_CACHE_MAX = 1024


def current(session: Session, actor: Actor, epoch: uuid.UUID, high: int) -> tuple[dict[str, Any], str]:
    """The reference data and its digest, for a pull reading the changes numbered up to `high`.

    Every change that alters it takes a change number (members' assignments and scope flips as
    synced rows, users, teams and the city's settings through server/models/sync_stamp.py), so it
    is a function of the actor and of `high`: the pages of one pull chain, and the phones of one
    team, build it once per process while nothing changes (the members query would otherwise run
    on every page). Data built after reading `high` may show something newer, numbered above it:
    never older. Only for a transaction that has not taken a number itself (its changes could
    still roll back and the number be taken again by another); the epoch tells databases apart."""
    if seq_taken(session) is not None:
        data = build(session, actor)
        return data, digest(data)
    key = (epoch, high, actor.user_id, actor.role, actor.team_id, actor.municipality_id)
    found = _CACHE.get(key)
    if found is None:
        data = build(session, actor)
        found = (data, digest(data))
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()  # stale keys are never asked again: `high` only grows
        _CACHE[key] = found
    return found
