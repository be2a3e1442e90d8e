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
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import i18n, vocab
from server.models import Case, CaseAssignment, Team, User
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


def digest(data: dict[str, Any]) -> str:
    """A short hash of the reference data (the static part hashed once per process): a change of
    the members or of the city's ladder changes it, and the phone receives the reference again."""
    return _hash([_static_digest(), data["members"], data["milestones"]])[:12]
