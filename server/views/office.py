"""Helpers shared by the office pages: rendering with the navigation the actor may use, parsing form
values, and the language / date-style preference form that every office page carries."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server import i18n
from server.errors import ApiError
from server.i18n import dates
from server.permissions import Permission
from server.views.base import Ctx, render, route

# Confirmation codes shown after a form posts and redirects (`?done=`): codes, never values.
DONE_CODES = ("assigned", "unassigned", "reviewed", "settled", "preferences")


def office_render(ctx: Ctx, template: str, status: int = 200, **context: Any) -> Response:
    me = ctx.me
    done = ctx.request.query_params.get("done")
    nav = {
        "cases": me.can(Permission.CASE_READ),
        "dashboard": me.can(Permission.TEAM_REPORT_READ),
        "reports": me.can(Permission.REPORT_READ),
        "alerts": me.can(Permission.ALERT_READ),
    }
    era = ctx.user.era_dates if ctx.user is not None else True
    return render(
        ctx,
        template,
        status,
        nav=nav,
        fy_label=lambda fy: dates.fiscal_year_label(fy, ctx.lang, era),
        done=done if done in DONE_CODES else None,
        here=ctx.request.url.path + (f"?{ctx.request.url.query}" if ctx.request.url.query else ""),
        **context,
    )


def form_uuid(form: dict[str, str], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(form.get(name, ""))
    except ValueError as exc:
        raise ApiError(422, "invalid_request", field=name) from exc


def safe_next(target: str | None, default: str = "/") -> str:
    """Only local paths: never an open redirect to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def back_to(target: str, done: str) -> RedirectResponse:
    """303 back to a local page with a confirmation code."""
    path, _, fragment = target.partition("#")
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}done={done}" + (f"#{fragment}" if fragment else ""), status_code=303)


@route(Permission.SIGNED_IN, page=True)
def preferences(ctx: Ctx) -> Response:
    """Language and 和暦/西暦: saved on the user, so the phone app and the office pages agree."""
    form = ctx.form()
    user = ctx.user
    if user is None:
        raise ApiError(401, "unauthenticated")
    language = form.get("language", user.language)
    if language not in i18n.LANGUAGES:
        raise ApiError(422, "invalid_request", field="language")
    user.language = language
    user.era_dates = form.get("era_dates") == "1"
    target = safe_next(form.get("next"))
    # Drop any earlier confirmation code from the page we go back to.
    path, _, query = target.partition("?")
    kept = "&".join(p for p in query.split("&") if p and not p.startswith("done="))
    return back_to(path + (f"?{kept}" if kept else ""), "preferences")


routes = [Route("/preferences", preferences, methods=["POST"])]
