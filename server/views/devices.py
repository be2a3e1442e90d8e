"""Devices: the field app's server-held wrapping key (`/api/device/key`) and the admin page that
lists devices and revokes them (`/admin/devices`). The rules live in server/services/devices.py."""

from __future__ import annotations

import base64
import uuid

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.errors import ApiError
from server.models import Device
from server.permissions import Permission
from server.services import devices
from server.views.base import Ctx, json_response, render, route
from sync import clients


def _asking_device(ctx: Ctx) -> Device:
    """The device named in the request header, locked; created on first use like a sync client."""
    header = ctx.request.headers.get(devices.HEADER)
    try:
        device_id = uuid.UUID(str(header))
    except ValueError as exc:
        raise ApiError(403, "device_mismatch", field="device_id") from exc
    if ctx.me.device_id != device_id:
        raise ApiError(403, "device_mismatch", field="device_id")
    device, created = clients.claim(ctx.db, ctx.me, device_id)
    if created:
        clients.audit_registration(ctx.db, ctx.me, device)
    return device


def _key_response(ctx: Ctx, key: bytes) -> Response:
    response = json_response(
        {"key": base64.urlsafe_b64encode(key).decode().rstrip("="), "policy": devices.lock_policy(ctx.settings)}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@route(Permission.SIGNED_IN)
def issue_key(ctx: Ctx) -> Response:
    """The device's wrapping key, made when it has none (the app's first sign-in)."""
    device = _asking_device(ctx)
    return _key_response(ctx, devices.issue_key(ctx.db, ctx.me, device, ctx.request.headers.get(devices.HEADER)))


@route(Permission.SIGNED_IN)
def read_key(ctx: Ctx) -> Response:
    """The existing key: an online sign-in opens the phone's data without the PIN."""
    device = _asking_device(ctx)
    return _key_response(ctx, devices.read_key(ctx.db, ctx.me, device, ctx.request.headers.get(devices.HEADER)))


@route(Permission.SIGNED_IN)
def forget_key(ctx: Ctx) -> Response:
    device = _asking_device(ctx)
    devices.forget_key(ctx.db, ctx.me, device, ctx.request.headers.get(devices.HEADER))
    return Response(status_code=204)


@route(Permission.DEVICE_ADMIN, page=True)
def admin_list(ctx: Ctx) -> Response:
    rows = devices.list_devices(ctx.db, ctx.me)
    by_user: dict[uuid.UUID, list[devices.Listed]] = {}
    for row in rows:
        by_user.setdefault(row.user.id, []).append(row)
    done = ctx.request.query_params.get("done")
    return render(
        ctx, "admin_devices.html", groups=list(by_user.values()), done=done if done == "device_revoked" else None
    )


@route(Permission.DEVICE_ADMIN, page=True)
def admin_revoke(ctx: Ctx) -> Response:
    devices.revoke(ctx.db, ctx.me, devices.parse_device_id(str(ctx.request.path_params["device_id"])))
    return RedirectResponse("/admin/devices?done=device_revoked", status_code=303)


routes = [
    Route("/api/device/key", read_key, methods=["GET"]),
    Route("/api/device/key", issue_key, methods=["POST"]),
    Route("/api/device/key", forget_key, methods=["DELETE"]),
    Route("/admin/devices", admin_list, methods=["GET"]),
    Route("/admin/devices/{device_id}/revoke", admin_revoke, methods=["POST"]),
]
