"""The signed-in user's own two-factor settings: enrolment with a QR code, recovery codes.

Office roles are enrolled when their account is created (`yorisoi create-user` prints the otpauth
URI); this page lets anyone move to a new authenticator and lets workers opt in. A new secret only
replaces the old one after a valid code from it, so a half-done enrolment never locks anyone out.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from server.models import User
from server.permissions import Permission
from server.services import audit, totp
from server.views.base import Ctx, render, route


def _user(ctx: Ctx) -> User:
    if ctx.user is None:  # SIGNED_IN routes always have one
        raise RuntimeError("no user")
    return ctx.user


@route(Permission.SIGNED_IN, page=True)
def two_factor(ctx: Ctx) -> Response:
    user = _user(ctx)
    return render(
        ctx, "account_two_factor.html", enrolled=user.totp_secret is not None, required=totp.required_for(user)
    )


@route(Permission.SIGNED_IN, page=True)
def two_factor_start(ctx: Ctx) -> Response:
    user = _user(ctx)
    uri = totp.start_enrolment(user)
    audit.record(ctx.db, ctx.me, "user.totp_enrol_start", entity="user", entity_id=user.id)
    return render(
        ctx,
        "account_two_factor.html",
        enrolled=user.totp_secret is not None,
        required=totp.required_for(user),
        qr=totp.qr_svg_data_uri(uri),
        secret=user.totp_pending_secret,
    )


@route(Permission.SIGNED_IN, page=True)
def two_factor_confirm(ctx: Ctx) -> Response:
    user = _user(ctx)
    codes = totp.confirm_enrolment(ctx.db, user, ctx.form().get("code", ""))
    if codes is None:
        uri = totp.provisioning_uri(user.username, user.totp_pending_secret) if user.totp_pending_secret else None
        return render(
            ctx,
            "account_two_factor.html",
            status=422,
            enrolled=user.totp_secret is not None,
            required=totp.required_for(user),
            qr=totp.qr_svg_data_uri(uri) if uri else None,
            secret=user.totp_pending_secret,
            error="totp_invalid",
        )
    audit.record(ctx.db, ctx.me, "user.totp_enrol", entity="user", entity_id=user.id)
    return render(ctx, "account_two_factor.html", enrolled=True, required=totp.required_for(user), codes=codes)


routes = [
    Route("/account/two-factor", two_factor, methods=["GET"]),
    Route("/account/two-factor/start", two_factor_start, methods=["POST"]),
    Route("/account/two-factor/confirm", two_factor_confirm, methods=["POST"]),
]
