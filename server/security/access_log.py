"""The access log, without personal data.

Threat: a name typed into the case search (`/cases?q=たかはし`) or any other query value landing in
log files that are kept, shipped and read far more widely than the database. uvicorn's own access
log prints the query string, so `yorisoi serve` switches it off and this middleware logs instead:
method, path, status and duration — never the query string, headers, cookies or bodies.

The path is the matched route's template with only its random UUIDs (and the app's own file
names) filled in: anything else a client puts in a path (`/cases/たかはし`) is logged as the
parameter's name, and an unmatched path is not logged at all (tests/test_log_canaries.py).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("yorisoi.access")

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_FILE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._/-]*\.[a-z0-9]{1,12}")  # app shell and static files
_PARAM = re.compile(r"\{([^}]+)\}")


def logged_path(scope: Scope) -> str:
    """The route template, with the path parameters that are safe to log filled in."""
    route: Any = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return "(no route)"
    if isinstance(route, Mount):
        template += "/{path}"
    params = scope.get("path_params") or {}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        value = str(params.get(name, ""))
        return value if _UUID.fullmatch(value) or _FILE.fullmatch(value) else "{" + name + "}"

    return _PARAM.sub(fill, template)


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            ms = (time.perf_counter() - start) * 1000
            log.info("%s %s %d %.1fms", scope["method"], logged_path(scope), status, ms)
