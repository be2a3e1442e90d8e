"""Per-team stall-rule thresholds, as admins edit them (`/admin/thresholds`).

An admin changes the thresholds of the teams of their own municipality; a team elsewhere answers
404, as if it did not exist. A blank value means the default (DOMAIN.md §4), so clearing a field puts
it back and a later change of a default reaches every team that never chose its own. Every value is
checked by `server.alerts.thresholds.validate` before anything is stored, and the change is audited
with the names of the keys that changed (never more: the values are configuration, but the audit
log records what was touched, not what it says). The evaluation picks the new values up at its next
run.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.alerts.thresholds import DEFAULTS, LIMITS, Thresholds, for_team, validate
from server.errors import ApiError
from server.models import Team
from server.permissions import Actor
from server.services import audit


@dataclass(frozen=True)
class TeamThresholds:
    team_id: uuid.UUID
    name: str
    overrides: dict[str, int]  # what the team chose; missing keys use the default
    effective: Thresholds


def teams(session: Session, actor: Actor) -> list[TeamThresholds]:
    """The teams of the admin's municipality, each with its chosen and effective thresholds."""
    rows = session.scalars(select(Team).where(Team.municipality_id == actor.municipality_id).order_by(Team.name))
    out = []
    for team in rows:
        try:
            chosen = validate(team.stall_thresholds or {})
        except ApiError:
            chosen = {}  # not in force (the evaluation falls back to the defaults): shown as such
        out.append(TeamThresholds(team.id, team.name, chosen, for_team(team.stall_thresholds)))
    return out


def parse_form(form: Mapping[str, str]) -> dict[str, int]:
    """The form's fields (one per key, blank = default) as overrides. Raises ApiError(422, field=key)
    for anything that is not a whole number; `validate` then checks the ranges and the S2 order."""
    overrides: dict[str, int] = {}
    for key in DEFAULTS:
        text = (form.get(key) or "").strip()
        if not text:
            continue
        if not text.isascii() or not text.isdigit() or len(text) > 5:
            raise ApiError(422, "invalid_request", field=key)
        overrides[key] = int(text)
    return overrides


def save(session: Session, actor: Actor, team_id: uuid.UUID, overrides: Mapping[str, int]) -> list[str]:
    """Replace a team's overrides (validated first: nothing changes on an error). Returns the keys
    that changed, in the order of DEFAULTS; audited when any did."""
    team = session.get(Team, team_id, with_for_update=True)
    if team is None or team.municipality_id != actor.municipality_id:
        raise ApiError(404, "not_found")
    checked = validate(overrides)
    before = for_team(team.stall_thresholds)
    after = Thresholds(**checked)
    stored = {k: v for k, v in (team.stall_thresholds or {}).items() if k in DEFAULTS}
    changed = [k for k in DEFAULTS if getattr(before, k) != getattr(after, k) or (k in stored) != (k in checked)]
    if changed:
        # A new dict, not an in-place edit: the JSON column only notices assignment.
        team.stall_thresholds = dict(checked)
        audit.record(session, actor, "settings.thresholds", entity="team", entity_id=team.id, fields=changed)
    return changed


__all__ = ["DEFAULTS", "LIMITS", "TeamThresholds", "parse_form", "save", "teams"]
