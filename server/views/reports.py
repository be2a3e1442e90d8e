"""The dashboard (`/dashboard`) and the city's CSV exports (`/reports/outreach.csv`,
`/reports/contacts.csv`).

The dashboard is for supervisors (the municipality) and coordinators (their own team); the CSVs are the
municipality's reports, supervisors only (REPORT_READ): a worker or a coordinator gets 403.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from starlette.responses import Response
from starlette.routing import Route

from server.db import utcnow
from server.errors import ApiError
from server.i18n.dates import fiscal_year, fiscal_year_range, quarter_range
from server.models import Team
from server.permissions import Permission
from server.services import audit, dashboard, exports, reports
from server.services.derived import local_date
from server.views.base import Ctx, route
from server.views.charts import bar_chart, stacked_columns
from server.views.office import office_render

MAX_EXPORT_DAYS = 3 * 366
HALF = {"width": 460, "label_width": 180}  # charts side by side in two columns


def _period(ctx: Ctx) -> tuple[int, int | None, dt.date, dt.date]:
    """`fiscal_year` (or `fy`) and an optional `quarter` 1–4 from the query; the current 年度 by default."""
    params = ctx.request.query_params
    today = local_date(utcnow())
    raw = params.get("fiscal_year") or params.get("fy") or ""
    if raw and not (raw.isdigit() and 2000 <= int(raw) <= 2100):
        raise ApiError(422, "invalid_request", field="fiscal_year")
    fy = int(raw) if raw else fiscal_year(today)
    q_raw = params.get("quarter", "")
    if q_raw not in ("", "0", "1", "2", "3", "4"):
        raise ApiError(422, "invalid_request", field="quarter")
    quarter = int(q_raw) if q_raw not in ("", "0") else None
    start, end = quarter_range(fy, quarter) if quarter else fiscal_year_range(fy)
    return fy, quarter, start, end


def _team(ctx: Ctx) -> uuid.UUID | None:
    raw = ctx.request.query_params.get("team", "")
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError as exc:
        raise ApiError(422, "invalid_request", field="team") from exc


@route(Permission.TEAM_REPORT_READ, page=True)
def dashboard_page(ctx: Ctx) -> Response:
    fy, quarter, start, end = _period(ctx)
    team_id = _team(ctx)
    days_raw = ctx.request.query_params.get("unsynced_days", "")
    days = min(int(days_raw), 365) if days_raw.isdigit() and int(days_raw) > 0 else dashboard.DEFAULT_UNSYNCED_DAYS
    now = utcnow()
    ov = dashboard.overview(ctx.db, ctx.me, now, team_id, days)
    ind = reports.indicators(ctx.db, ctx.me, start, end, team_id)
    teams = list(
        ctx.db.execute(select(Team.id, Team.name).where(dashboard.dashboard_teams(ctx.me)).order_by(Team.name))
    )
    audit.record(ctx.db, ctx.me, "dashboard.view", entity="report", entity_id="dashboard", detail=f"fy={fy}")
    t = ctx.t
    charts = {
        "levels": bar_chart([(t(f"alert_level.{k}"), v) for k, v in ov.alerts_by_level.items()], **HALF),
        "rules": bar_chart([(t(f"alert_rule_short.{k}"), v) for k, v in ov.alerts_by_rule.items()], **HALF),
        "caseload": bar_chart([(c.name, c.total) for c in ov.caseload]),
        "methods": bar_chart([(t(f"method.{k}"), v) for k, v in ind.contacts_by_method.items()], **HALF),
        "sources": bar_chart([(t(f"referral_source.{k}"), v) for k, v in ind.new_by_source.items()], **HALF),
        "monthly": stacked_columns([(t("ui.month_n", month=m.month), v) for m, v in ind.monthly]),
    }
    this_fy = fiscal_year(local_date(now))
    return office_render(
        ctx,
        "dashboard.html",
        ov=ov,
        ind=ind,
        fy=fy,
        quarter=quarter,
        team_id=str(team_id or ""),
        teams=teams,
        charts_data=charts,
        years=list(range(this_fy, this_fy - 6, -1)),
        can_export=ctx.me.can(Permission.REPORT_READ),
        now=now,
    )


def _csv(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@route(Permission.REPORT_READ, page=True)
def outreach_csv(ctx: Ctx) -> Response:
    fy, quarter, start, end = _period(ctx)
    ind = reports.indicators(ctx.db, ctx.me, start, end)
    suffix = f"-q{quarter}" if quarter else ""
    return _csv(exports.outreach_csv(ctx.db, ctx.me, ind, fy, quarter), f"outreach-fy{fy}{suffix}.csv")


def _date(ctx: Ctx, name: str, default: dt.date) -> dt.date:
    raw = ctx.request.query_params.get(name, "")
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", field=name) from exc


@route(Permission.REPORT_READ, page=True)
def contacts_csv(ctx: Ctx) -> Response:
    today = local_date(utcnow())
    start = _date(ctx, "from", fiscal_year_range(fiscal_year(today))[0])
    end = _date(ctx, "to", today)
    if end < start or (end - start).days > MAX_EXPORT_DAYS:
        raise ApiError(422, "invalid_request", field="to")
    data = exports.contacts_csv(ctx.db, ctx.me, start, end)
    return _csv(data, f"contacts-{start.isoformat()}-{end.isoformat()}.csv")


routes = [
    Route("/dashboard", dashboard_page, methods=["GET"]),
    Route("/reports/outreach.csv", outreach_csv, methods=["GET"]),
    Route("/reports/contacts.csv", contacts_csv, methods=["GET"]),
]
