"""The admin page for the stall rules' thresholds per team (`/admin/thresholds`). Admins only
(settings.admin); the page shows configuration, never case content. The rules and the audit live in
server/services/team_thresholds.py; the values are checked by server/alerts/thresholds.validate.

One form per team: a blank field means the default (its placeholder), so clearing a field puts the
default back. An error is shown on the team's form with what was typed, and nothing is stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from starlette.responses import Response
from starlette.routing import Route

from server.alerts.thresholds import DEFAULTS, LIMITS
from server.errors import ApiError
from server.permissions import Permission
from server.services import team_thresholds
from server.views.base import Ctx, render, route
from server.views.settings_form import just_saved, save_or_show_again


@dataclass(frozen=True)
class Field:
    key: str
    default: int
    low: int
    high: int
    value: str  # what the form shows: the team's own value, or what was typed; "" = the default
    in_force: int


@dataclass(frozen=True)
class TeamForm:
    team_id: uuid.UUID
    name: str
    fields: list[Field]
    error_field: str | None = None


def _forms(ctx: Ctx, typed_for: uuid.UUID | None = None, typed: dict[str, str] | None = None,
           error_field: str | None = None) -> list[TeamForm]:
    out = []
    for team in team_thresholds.teams(ctx.db, ctx.me):
        mine = team.team_id == typed_for
        fields = [
            Field(
                key=k, default=DEFAULTS[k], low=LIMITS[k][0], high=LIMITS[k][1],
                value=(typed or {}).get(k, "") if mine else str(team.overrides.get(k, "")),
                in_force=getattr(team.effective, k),
            )
            for k in DEFAULTS
        ]
        out.append(TeamForm(team.team_id, team.name, fields, error_field if mine else None))
    return out


def _page(ctx: Ctx, forms: list[TeamForm], status: int = 200) -> Response:
    return render(ctx, "admin_thresholds.html", status, forms=forms, done=just_saved(ctx))


@route(Permission.SETTINGS_ADMIN, page=True)
def thresholds_page(ctx: Ctx) -> Response:
    return _page(ctx, _forms(ctx))


@route(Permission.SETTINGS_ADMIN, page=True)
def thresholds_save(ctx: Ctx) -> Response:
    team_id = ctx.path_uuid("team_id")
    form = ctx.form()

    def save() -> None:
        with ctx.db.begin_nested():
            team_thresholds.save(ctx.db, ctx.me, team_id, team_thresholds.parse_form(form))

    def show_again(exc: ApiError) -> Response:
        typed = {k: form.get(k, "") for k in DEFAULTS}
        return _page(ctx, _forms(ctx, team_id, typed, exc.field), 422)

    return save_or_show_again(save, "/admin/thresholds", show_again, fragment=f"team-{team_id}")


routes = [
    Route("/admin/thresholds", thresholds_page, methods=["GET"]),
    Route("/admin/thresholds/{team_id}", thresholds_save, methods=["POST"]),
]
