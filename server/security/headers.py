"""Security headers on every response (errors included), and the last-resort error handler.

Threats: script injection (a strict CSP with no inline script), clickjacking (frame-ancestors),
MIME sniffing, leaking case URLs through Referer, and personal data left in shared caches or the
browser's HTTP cache (Cache-Control: no-store unless a response is a static asset that says otherwise).

This middleware sits inside Starlette's ServerErrorMiddleware, so it also turns an unhandled
exception into a JSON 500 *with* these headers, and logs only the exception's type and location —
exception messages can contain values, and values can be personal data.
"""

from __future__ import annotations

import logging
import traceback

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import error_response
from server.security.access_log import logged_path

log = logging.getLogger("yorisoi.errors")

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers["Cross-Origin-Resource-Policy"] = "same-origin"
                headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
                if self.https:
                    headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            where = f"{frame.filename}:{frame.lineno}" if frame else "?"
            log.error("unhandled %s at %s on %s %s", type(exc).__name__, where, scope["method"], logged_path(scope))
            if started:
                raise
            await error_response(500, "internal_error")(scope, receive, send_wrapper)
