"""The audit log for administrators: `/admin/audit` (search, newest first, paginated) and
`/admin/audit.csv` (the filtered rows as CSV; the export is itself audited). Rules and queries live
in server/services/audit_search.py."""

from __future__ import annotations

import urllib.parse

from starlette.responses import Response
from starlette.routing import Route

from server.db import utcnow
from server.i18n.dates import to_tokyo
from server.permissions import Permission
from server.services import audit_search
from server.views.base import Ctx, render, route


def _page_number(ctx: Ctx) -> int:
    text = ctx.request.query_params.get("page", "1")
    return int(text) if text.isdigit() and 0 < len(text) < 7 else 1


@route(Permission.AUDIT_READ, page=True)
def audit_page(ctx: Ctx) -> Response:
    filters = audit_search.parse_filters(ctx.request.query_params)
    found = audit_search.search(ctx.db, ctx.me, filters, _page_number(ctx))
    query = filters.query()

    def link(page: int) -> str:
        return "/admin/audit?" + urllib.parse.urlencode({**query, "page": str(page)})

    return render(
        ctx,
        "admin_audit.html",
        f=filters,
        found=found,
        outcomes=audit_search.OUTCOMES,
        prev_url=link(found.page - 1) if found.page > 1 else None,
        next_url=link(found.page + 1) if found.page < found.pages else None,
        csv_url="/admin/audit.csv" + ("?" + urllib.parse.urlencode(query) if query else ""),
    )


@route(Permission.AUDIT_READ, page=True)
def audit_csv(ctx: Ctx) -> Response:
    filters = audit_search.parse_filters(ctx.request.query_params)
    data = audit_search.export_csv(ctx.db, ctx.me, filters)
    stamp = to_tokyo(utcnow()).strftime("%Y%m%d-%H%M")
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"', "Cache-Control": "no-store"},
    )


routes = [
    Route("/admin/audit", audit_page, methods=["GET"]),
    Route("/admin/audit.csv", audit_csv, methods=["GET"]),
]
