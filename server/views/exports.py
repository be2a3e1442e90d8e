"""One person's whole record (`/cases/{id}/export`: a printable page, or JSON with `?format=json`) for a
開示請求, and the print-friendly case summary for a 支援会議 (`/cases/{id}/summary`).

Office roles only (CASE_REVIEW). The summary leaves out records whose sharing basis is 内部限り: what a
worker marked internal does not go on paper to a meeting; the page says how many were left out.
"""

from __future__ import annotations

import json

from starlette.responses import Response
from starlette.routing import Route

from server.db import utcnow
from server.permissions import Permission
from server.services import disclosure, timeline
from server.services.derived import local_date
from server.views.base import Ctx, route
from server.views.office import office_render

MEETING_SHAREABLE = frozenset({"CONSENT", "SHIEN_KAIGI_106_6", "EMERGENCY"})
SUMMARY_RECENT = 10


@route(Permission.CASE_REVIEW, page=True)
def export(ctx: Ctx) -> Response:
    views = disclosure.person_cases(ctx.db, ctx.me, ctx.path_uuid("case_id"))
    if ctx.request.query_params.get("format") == "json":
        body = json.dumps(disclosure.person_json(views), ensure_ascii=False, indent=2)
        return Response(
            body,
            media_type="application/json; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="disclosure-{views[0].person.id}.json"'},
        )
    return office_render(ctx, "case_export.html", views=views, printed_at=utcnow())


@route(Permission.CASE_REVIEW, page=True)
def summary(ctx: Ctx) -> Response:
    view = timeline.load_case(
        ctx.db, ctx.me, ctx.path_uuid("case_id"), action="case.print", permission=Permission.CASE_REVIEW
    )
    shared = [e for e in view.entries if e.sharing_basis in MEETING_SHAREABLE]
    contacts = [e for e in shared if e.kind == "contact"][-SUMMARY_RECENT:]
    milestones = [e for e in shared if e.kind == "milestone"]
    reviews = [r for r in view.reviews if r.sharing_basis in MEETING_SHAREABLE]
    withheld = (len(view.entries) - len(shared)) + (len(view.reviews) - len(reviews))
    return office_render(
        ctx,
        "case_summary.html",
        v=view,
        contacts=contacts,
        milestones=milestones,
        reviews=reviews,
        withheld=withheld,
        today=local_date(utcnow()),
        printed_at=utcnow(),
    )


routes = [
    Route("/cases/{case_id}/export", export, methods=["GET"]),
    Route("/cases/{case_id}/summary", summary, methods=["GET"]),
]
