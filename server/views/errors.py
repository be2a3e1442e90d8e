"""Answers for requests that never reached a view: unknown paths and methods."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from server.errors import ApiError, error_response


async def api_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ApiError):
        raise exc
    return error_response(exc.status, exc.code, field=exc.field, headers=exc.headers)


async def not_found(request: Request, exc: Exception) -> Response:
    return error_response(404, "not_found")


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    headers = exc.headers if isinstance(exc, HTTPException) and exc.headers else None
    return error_response(405, "method_not_allowed", headers=headers)
