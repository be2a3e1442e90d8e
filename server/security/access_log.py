"""The access log, without personal data.

Threat: a name typed into the case search (`/cases?q=たかはし`) or any other query value landing in
log files that are kept, shipped and read far more widely than the database. uvicorn's own access
log prints the query string, so `yorisoi serve` switches it off and this middleware logs instead:
method, path (ids in paths are random UUIDs), status and duration — never the query string,
headers, cookies or bodies.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("yorisoi.access")


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
            log.info("%s %s %d %.1fms", scope["method"], scope["path"], status, ms)
