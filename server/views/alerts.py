"""Alerts: the JSON API the field app lists (`GET /api/alerts`), acknowledgement, and the office
pages (`/alerts`, `/alerts/{id}`). Every alert is always listed here as well as pushed: iPhones not
added to the home screen get no push, and some city networks block push services."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.errors import ApiError
from server.models import Alert
from server.permissions import Permission
from server.services import alerts
from server.views.base import Ctx, json_response, render, route


def alert_json(ctx: Ctx, alert: Alert) -> dict[str, Any]:
    """No person's name or note about the case: the field app maps `case_id` to its own records."""
    return {
        "id": str(alert.id),
        "rule": alert.rule,
        "level": alert.level,
        "state": alert.state,
        "case_id": str(alert.case_id) if alert.case_id else None,
        "subject_user_id": str(alert.subject_user_id) if alert.subject_user_id else None,
        "team_id": str(alert.team_id),
        "opened_at": alert.opened_at.isoformat(),
        "escalated": alert.escalated_at is not None,
        "escalated_at": alert.escalated_at.isoformat() if alert.escalated_at else None,
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "acknowledged_by": str(alert.acknowledged_by) if alert.acknowledged_by else None,
        "ack_note": alert.ack_note,
        "ack_next_date": alert.ack_next_date.isoformat() if alert.ack_next_date else None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "label": ctx.t(f"alert_rule.{alert.rule}"),
        "level_label": ctx.t(f"alert_level.{alert.level}"),
        "state_label": ctx.t(f"alert_state.{alert.state}"),
        "url": f"/alerts/{alert.id}",
    }


def _limit(ctx: Ctx) -> int:
    raw = ctx.request.query_params.get("limit", "200")
    if not raw.isdigit():
        raise ApiError(422, "invalid_request", field="limit")
    return int(raw)


@route(Permission.ALERT_READ)
def list_api(ctx: Ctx) -> Response:
    state = ctx.request.query_params.get("state", "live")
    rows = alerts.list_alerts(ctx.db, ctx.me, state, _limit(ctx))
    items = [alert_json(ctx, r.alert) for r in rows]
    return json_response({"alerts": items, "open_count": sum(1 for r in rows if r.alert.state == "open")})


@route(Permission.ALERT_READ)
def get_api(ctx: Ctx) -> Response:
    alert = alerts.read_alert(ctx.db, ctx.me, ctx.path_uuid("alert_id")).alert
    return json_response({"alert": alert_json(ctx, alert)})


@route(Permission.ALERT_ACK)
def acknowledge_api(ctx: Ctx) -> Response:
    data = ctx.json_object()
    note, next_date = data.get("note"), data.get("next_date")
    if not isinstance(note, str):
        raise ApiError(422, "invalid_request", field="note")
    if not isinstance(next_date, str):
        raise ApiError(422, "invalid_request", field="next_date")
    alert = alerts.acknowledge(ctx.db, ctx.me, ctx.path_uuid("alert_id"), note, next_date)
    return json_response({"alert": alert_json(ctx, alert)})


@route(Permission.ALERT_READ, page=True)
def list_page(ctx: Ctx) -> Response:
    state = ctx.request.query_params.get("state", "live")
    if state not in alerts.STATE_FILTERS:
        state = "live"
    rows = alerts.list_alerts(ctx.db, ctx.me, state, 500, with_names=True)
    return render(ctx, "alerts.html", rows=rows, state=state, states=tuple(alerts.STATE_FILTERS))


def _detail(ctx: Ctx, alert_id: uuid.UUID, status: int = 200, error: ApiError | None = None) -> Response:
    row = alerts.read_alert(ctx.db, ctx.me, alert_id)
    alert = row.alert
    can_ack = alert.state != "resolved" and ctx.me.can(Permission.ALERT_ACK) and (
        alert.rule != "DEVICE_UNSYNCED" or ctx.me.can(Permission.CASE_REVIEW)
    )
    return render(
        ctx,
        "alert.html",
        status,
        alert=alert,
        person_name=row.person_name,
        can_ack=can_ack,
        error=error.code if error else None,
        error_field=error.field if error else None,
        form=ctx.form() if error else {},
        done=ctx.request.query_params.get("done") == "acknowledged",
    )


@route(Permission.ALERT_READ, page=True)
def detail_page(ctx: Ctx) -> Response:
    return _detail(ctx, ctx.path_uuid("alert_id"))


@route(Permission.ALERT_ACK, page=True)
def acknowledge_page(ctx: Ctx) -> Response:
    alert_id = ctx.path_uuid("alert_id")
    form = ctx.form()
    try:
        with ctx.db.begin_nested():
            alerts.acknowledge(ctx.db, ctx.me, alert_id, form.get("note", ""), form.get("next_date", ""))
    except ApiError as exc:
        if exc.status != 422:
            raise
        return _detail(ctx, alert_id, 422, exc)
    return RedirectResponse(f"/alerts/{alert_id}?done=acknowledged", status_code=303)


routes = [
    Route("/api/alerts", list_api, methods=["GET"]),
    Route("/api/alerts/{alert_id}", get_api, methods=["GET"]),
    Route("/api/alerts/{alert_id}/acknowledge", acknowledge_api, methods=["POST"]),
    Route("/alerts", list_page, methods=["GET"]),
    Route("/alerts/{alert_id}", detail_page, methods=["GET"]),
    Route("/alerts/{alert_id}/acknowledge", acknowledge_page, methods=["POST"]),
]
