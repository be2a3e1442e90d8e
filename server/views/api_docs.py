"""`GET /api/openapi.json`: the description of the JSON API (server/openapi.py). Public: it holds
shapes only, no data, like the app shell."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from server import openapi
from server.permissions import Permission
from server.views.base import Ctx, json_response, route


@route(Permission.PUBLIC)
def openapi_json(_ctx: Ctx) -> Response:
    return json_response(openapi.document())


routes = [Route("/api/openapi.json", openapi_json, methods=["GET"])]
