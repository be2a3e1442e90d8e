"""`GET /api/openapi.json`: the description of the JSON API (server/openapi.py). Public: it holds
shapes only, no data, like the app shell."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server import openapi
from server.views.base import json_response, without_database


@without_database  # shapes only: no database, no session (0.15 ms to build)
def openapi_json(_request: Request) -> Response:
    return json_response(openapi.document())


routes = [Route("/api/openapi.json", openapi_json, methods=["GET"])]
