"""Office pages for cases: the case list (`/cases`), a case's visit timeline (`/cases/{id}`) and the
coordinator's actions on it (assign, end an assignment, review comment, settle a sync conflict).

Thin handlers: parse, call a service (which checks permission and scope, and audits), render.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from server.db import utcnow
from server.i18n import dates
from server.permissions import Permission
from server.services import assignments, caselist, conflicts, reviews, timeline
from server.services.derived import local_date
from server.views.base import Ctx, route
from server.views.charts import ladder_chart
from server.views.office import back_to, form_uuid, office_render
from server.vocab import ALERT_LEVELS, ALL_MILESTONES, CATEGORIES, SHARING_BASES


@route(Permission.CASE_READ, page=True)
def case_list(ctx: Ctx) -> Response:
    f = caselist.CaseFilters.parse(dict(ctx.request.query_params))
    page = caselist.list_cases(ctx.db, ctx.me, f, utcnow())
    teams, staff = caselist.filter_options(ctx.db, ctx.me)
    return office_render(
        ctx,
        "cases.html",
        page=page,
        f=f,
        teams=teams,
        staff=staff,
        statuses=caselist.STATUSES,
        stages=ALL_MILESTONES,
        categories=CATEGORIES,
        levels=ALERT_LEVELS,
        sorts=caselist.SORTS,
        silent_choices=(30, 60, 90, 180),
    )


@route(Permission.CASE_READ, page=True)
def case_detail(ctx: Ctx) -> Response:
    shown = _shown(ctx.request.query_params.get("show", ""))
    view = timeline.load_case(ctx.db, ctx.me, ctx.path_uuid("case_id"), newest=shown)
    era = ctx.user.era_dates if ctx.user is not None else True
    today = local_date(utcnow())
    end = view.case.closed_on if view.case.closed_on and view.case.status == "closed" else today
    chart = ladder_chart(
        [(m.milestone, m.reached_on, m.received_at) for m in view.milestones],
        view.case.identified_on,
        end,
        lambda m: ctx.t(f"milestone_short.{m}"),
        ctx.lang,
        era,
        hidden=ctx.ladder.hidden,
    )
    newest_first = ctx.request.query_params.get("order") == "desc"
    more = _more_links(view, newest_first)
    return office_render(
        ctx,
        "case.html",
        v=view,
        chart=chart,
        entries=list(reversed(view.entries)) if newest_first else view.entries,
        newest_first=newest_first,
        more=more,
        today=today,
        staff=assignments.assignable_staff(ctx.db, ctx.me),
        can_assign=ctx.me.can(Permission.CASE_ASSIGN),
        can_review=ctx.me.can(Permission.CASE_REVIEW),
        sharing_bases=SHARING_BASES,
        conflict_value=lambda name, stored: _conflict_value(ctx, name, stored, era),
    )


def _shown(raw: str) -> int | None:
    """`?show=`: how many of the newest timeline entries to show (`all`: every one)."""
    if raw == "all":
        return None
    n = int(raw) if raw.isdigit() and len(raw) < 7 else 0
    return max(n, timeline.TIMELINE_PAGE)


def _more_links(view: timeline.CaseView, newest_first: bool) -> dict[str, Any]:
    """The order switch (keeping how much is shown) and, when older entries are hidden,
    「さらに表示」 and 「すべて表示」 (keeping the order)."""
    base, total, shown = f"/cases/{view.case.id}", view.total_entries, len(view.entries)
    show = "" if shown <= timeline.TIMELINE_PAGE else ("show=all" if shown >= total else f"show={shown}")
    flip = "&".join(p for p in (show, "" if newest_first else "order=desc") if p)
    links: dict[str, Any] = {"order": f"{base}{'?' if flip else ''}{flip}#timeline", "hidden": total - shown}
    if total > shown:
        order = "order=desc&" if newest_first else ""
        # Newest first, the links are under the list: come back to the oldest entry shown so far.
        anchor = view.entries[0].anchor if newest_first and view.entries else "timeline"
        step = min(timeline.TIMELINE_PAGE, total - shown)
        links.update(
            shown=f"{shown:,}", total=f"{total:,}", step=step,
            more=f"{base}?{order}show={shown + step}#{anchor}", all=f"{base}?{order}show=all#{anchor}",
        )  # fmt: skip
    return links


def _conflict_value(ctx: Ctx, name: str, stored: dict[str, Any] | None, era: bool) -> str:
    """A conflicting value as people read it: labels for vocabulary, dates in the user's style."""
    value = (stored or {}).get("value")
    if value is None or value == "":
        return ctx.t("ui.none")
    if isinstance(value, bool):
        return ctx.t("ui.yes" if value else "ui.no")
    if name == "status":
        return ctx.t(f"case_status.{value}")
    if name == "closed_reason":
        return ctx.t(f"closed_reason.{value}")
    if name == "referral_source":
        return ctx.t(f"referral_source.{value}")
    if name == "categories" and isinstance(value, list):
        return "、".join(ctx.t(f"category.{v}") for v in value)
    if name.endswith(("_due", "_on", "_date")) and isinstance(value, str):
        try:
            return dates.format_date(dt.date.fromisoformat(value), ctx.lang, era)
        except ValueError:
            return value
    return str(value)


@route(Permission.CASE_ASSIGN, page=True)
def assign(ctx: Ctx) -> Response:
    case_id = ctx.path_uuid("case_id")
    form = ctx.form()
    assignments.assign(ctx.db, ctx.me, case_id, form_uuid(form, "user_id"), primary=form.get("role") == "primary")
    return back_to(f"/cases/{case_id}#assignments", "assigned")


@route(Permission.CASE_ASSIGN, page=True)
def unassign(ctx: Ctx) -> Response:
    case_id = ctx.path_uuid("case_id")
    assignments.end(ctx.db, ctx.me, case_id, ctx.path_uuid("assignment_id"))
    return back_to(f"/cases/{case_id}#assignments", "unassigned")


@route(Permission.CASE_REVIEW, page=True)
def review(ctx: Ctx) -> Response:
    case_id = ctx.path_uuid("case_id")
    form = ctx.form()
    reviews.add_review(ctx.db, ctx.me, case_id, form.get("body", ""), form.get("sharing_basis", "INTERNAL_ONLY"))
    return back_to(f"/cases/{case_id}#reviews", "reviewed")


@route(Permission.CASE_REVIEW, page=True)
def settle(ctx: Ctx) -> Response:
    case_id = ctx.path_uuid("case_id")
    conflicts.settle(ctx.db, ctx.me, case_id, ctx.path_uuid("conflict_id"), ctx.form().get("choice", ""))
    return back_to(f"/cases/{case_id}#conflicts", "settled")


routes = [
    Route("/cases", case_list, methods=["GET"]),
    Route("/cases/{case_id}", case_detail, methods=["GET"]),
    Route("/cases/{case_id}/assignments", assign, methods=["POST"]),
    Route("/cases/{case_id}/assignments/{assignment_id}/end", unassign, methods=["POST"]),
    Route("/cases/{case_id}/reviews", review, methods=["POST"]),
    Route("/cases/{case_id}/conflicts/{conflict_id}", settle, methods=["POST"]),
]
