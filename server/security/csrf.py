"""Cross-site request forgery protection for every unsafe method.

Threat: a page on another site makes the worker's browser send a state-changing request with the
Yorisoi session cookie. Browsers label every request with `Sec-Fetch-Site`; we accept unsafe
methods only when it says `same-origin`. Older browsers without it send `Origin`, which must equal
our own origin exactly. A request with neither header does not come from a browser (curl, the test
client, a server-side job) and carries no ambient authority that a third-party site could borrow,
so it passes. This is the same rule as Go's net/http CrossOriginProtection.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from server.errors import error_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_cross_site(method: str, headers: Headers, origin: str) -> bool:
    if method in SAFE_METHODS:
        return False
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site != "same-origin"
    req_origin = headers.get("origin")
    if req_origin is not None:
        return req_origin != origin
    return False


class CSRFMiddleware:
    def __init__(self, app: ASGIApp, *, origin: str) -> None:
        self.app = app
        self.origin = origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_cross_site(scope["method"], Headers(scope=scope), self.origin):
            await error_response(403, "csrf_failed")(scope, receive, send)
            return
        await self.app(scope, receive, send)
