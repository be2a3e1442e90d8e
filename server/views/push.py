"""Web Push endpoints: the server's public VAPID key, and (un)subscribing a browser."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from server.permissions import Permission
from server.push import subscriptions
from server.push.vapid import load_or_create
from server.views.base import Ctx, json_response, route


@route(Permission.PUBLIC)
def public_key(ctx: Ctx) -> Response:
    """The browser's `applicationServerKey`; public by nature."""
    key = load_or_create(ctx.settings.data_dir)
    return json_response({"public_key": key.application_server_key})


@route(Permission.ALERT_READ)
def subscribe(ctx: Ctx) -> Response:
    sub = subscriptions.subscribe(ctx.db, ctx.me, ctx.json_object(), ctx.settings.push_allowed_origins)
    return json_response({"id": str(sub.id)}, status=201)


@route(Permission.SIGNED_IN)
def unsubscribe(ctx: Ctx) -> Response:
    subscriptions.unsubscribe(ctx.db, ctx.me, ctx.json_object().get("endpoint"))
    return Response(status_code=204)


routes = [
    Route("/api/push/key", public_key, methods=["GET"]),
    Route("/api/push/subscriptions", subscribe, methods=["POST"]),
    Route("/api/push/subscriptions", unsubscribe, methods=["DELETE"]),
]
