"""Sign-in and sign-out: the JSON API (`/api/session`) and the browser sign-in page (`/login`)."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.errors import ApiError
from server.models import User
from server.permissions import Permission
from server.services import auth, devices
from server.views.base import Ctx, client_address, json_response, render, route, session_cookie_name


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "team_id": str(user.team_id),
        "language": user.language,
        "era_dates": user.era_dates,
    }


def _cookie_opts(ctx: Ctx) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "lax",
        "secure": ctx.settings.https,
        "path": "/",
        "max_age": ctx.settings.session_absolute_hours * 3600,
    }


def _sign_in(
    ctx: Ctx, username: str, password: str, code: str | None, device_id: uuid.UUID | None
) -> auth.SignedIn:
    """Shared by the API and the page. Failures are counted in their own transaction."""
    address = client_address(ctx.request)
    auth.check_throttle(ctx.db, username, address)
    user = auth.verify_credentials(ctx.db, username, password)
    if user is None:
        ctx.on_failure.append(lambda db: auth.record_failure(db, ctx.settings, username, address))
        raise ApiError(401, "invalid_credentials")
    try:
        auth.check_second_factor(ctx.db, user, code)
    except ApiError as exc:
        if exc.code == "totp_invalid":
            ctx.on_failure.append(lambda db: auth.record_failure(db, ctx.settings, username, address))
        raise
    signed = auth.start_session(ctx.db, ctx.settings, user, address, device_id)
    ctx.set_cookies.append((session_cookie_name(ctx.settings), signed.token, _cookie_opts(ctx)))
    return signed


@route(Permission.PUBLIC, signs_in=True)
def create_session(ctx: Ctx) -> Response:
    data = ctx.json_object()
    username, password, code = data.get("username"), data.get("password"), data.get("totp")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ApiError(400, "invalid_request", field="username" if not isinstance(username, str) else "password")
    if code is not None and not isinstance(code, str):
        raise ApiError(400, "invalid_request", field="totp")
    device_id = None
    if data.get("device_id") is not None:
        try:
            device_id = uuid.UUID(str(data["device_id"]))
        except ValueError as exc:
            raise ApiError(422, "invalid_request", field="device_id") from exc
    # The device the `X-Yorisoi-Device` header names was checked with the session (views/base.py
    # refuses a revoked one before this runs): the app names the same one in the body, so only a
    # body naming another device is looked up again (one statement less per sign-in, issue #9).
    named = devices.named_device(ctx.request.headers.get(devices.HEADER))
    if device_id is not None and device_id != named and devices.revoked_device(ctx.db, str(device_id)) is not None:
        revoked = device_id  # a revoked installation gets no new session: it is told to wipe itself
        ctx.on_failure.append(lambda s: devices.record_wipe_signal(s, None, revoked))
        raise devices.revoked_error()
    signed = _sign_in(ctx, username, password, code, device_id)
    return json_response({"user": user_json(signed.user)})


@route(Permission.SIGNED_IN)
def current_session(ctx: Ctx) -> Response:
    if ctx.user is None:
        raise ApiError(401, "unauthenticated")
    return json_response({"user": user_json(ctx.user)})


@route(Permission.SIGNED_IN)
def delete_session(ctx: Ctx) -> Response:
    auth.end_session(ctx.db, ctx.me)
    response = Response(status_code=204)
    response.delete_cookie(session_cookie_name(ctx.settings), path="/")
    return response


def _safe_next(target: str | None) -> str:
    # Only local paths: never an open redirect to another site.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@route(Permission.PUBLIC, page=True, error_template="login.html", signs_in=True)
def login_page(ctx: Ctx) -> Response:
    if ctx.request.method == "GET":
        return render(ctx, "login.html", form={"next": _safe_next(ctx.request.query_params.get("next"))})
    form = ctx.form()
    target = _safe_next(form.get("next"))
    _sign_in(ctx, form.get("username", ""), form.get("password", ""), form.get("totp") or None, None)
    return RedirectResponse(target, status_code=303)


@route(Permission.SIGNED_IN, page=True)
def logout_page(ctx: Ctx) -> Response:
    auth.end_session(ctx.db, ctx.me)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(session_cookie_name(ctx.settings), path="/")
    return response


routes = [
    Route("/api/session", create_session, methods=["POST"]),
    Route("/api/session", current_session, methods=["GET"]),
    Route("/api/session", delete_session, methods=["DELETE"]),
    Route("/login", login_page, methods=["GET", "POST"]),
    Route("/logout", logout_page, methods=["POST"]),
]
