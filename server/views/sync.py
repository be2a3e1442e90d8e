"""The sync endpoints of the field app: parse → authorise (`Permission.SYNC`) → call `sync/`.

`POST /api/sync/push` and `GET /api/sync/pull`; the protocol is sync/PROTOCOL.md. One database
transaction per request (views.base): a push's effects and its new `last_mid` commit together.
"""

from __future__ import annotations

import os
import signal
import uuid
from typing import Any

from sqlalchemy import event
from starlette.responses import Response
from starlette.routing import Route

from server.errors import ApiError
from server.permissions import Permission
from server.services import audit
from server.views.base import Ctx, FastJSONResponse, json_response, route
from sync import envelope
from sync import pull as sync_pull
from sync import push as sync_push


def _die(*_args: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _fault_point(ctx: Ctx) -> None:
    """Test-only crash points (Settings.fault_inject): the process dies with the push applied but
    not committed, or committed but not answered."""
    if ctx.settings.fault_inject == "push_before_commit":
        ctx.db.flush()
        _die()
    elif ctx.settings.fault_inject == "push_after_commit":
        event.listen(ctx.db, "after_commit", _die, once=True)


def _revoked(ctx: Ctx, exc: ApiError, client_id: uuid.UUID | None) -> None:
    """The wipe signal is audited in its own transaction (the request's is rolled back)."""
    if exc.code == "device_revoked":
        actor = ctx.me
        ctx.on_failure.append(
            lambda db: audit.record(
                db, actor, "device.wipe_signalled", entity="device", entity_id=client_id, device_id=client_id,
                outcome="denied",
            )
        )


@route(Permission.SYNC)
def push(ctx: Ctx) -> Response:
    request = envelope.parse_push(ctx.json())
    try:
        answer = sync_push.push(ctx.db, ctx.me, request, ctx.lang)
    except ApiError as exc:
        _revoked(ctx, exc, request.client_id)
        raise
    _fault_point(ctx)
    return json_response(answer)


@route(Permission.SYNC)
def pull(ctx: Ctx) -> Response:
    request = envelope.parse_pull(ctx.request.query_params, ctx.me.device_id)
    try:
        answer = sync_pull.pull(ctx.db, ctx.me, request)
    except ApiError as exc:
        _revoked(ctx, exc, request.client_id)
        raise
    return FastJSONResponse(answer)  # rows keep UUID/date/datetime values (sync.serialize)


routes = [
    Route("/api/sync/push", push, methods=["POST"]),
    Route("/api/sync/pull", pull, methods=["GET"]),
]
