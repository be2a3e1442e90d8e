"""The wrapper every route goes through: it declares the route's permission, opens one database
transaction per request, resolves the signed-in actor, enforces the permission, and turns
`ApiError` into the API's JSON error shape (or a page for browser routes). Public routes that touch
neither the database nor the session (the app shell) go through `without_database` instead.

Views are plain synchronous functions of a `Ctx`; the wrapper runs them in Starlette's thread pool,
because SQLAlchemy sessions here are synchronous.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from server import i18n
from server.errors import ApiError, error_response
from server.models import User
from server.permissions import Actor, Permission
from server.security.access_log import logged_path
from server.security.admission import RETRY_AFTER_SECONDS, Admission, Busy
from server.services import audit, auth, devices
from server.services import ladder as ladders
from server.settings import Settings

log = logging.getLogger("yorisoi.views")

MAX_BODY = 2 * 1024 * 1024

Handler = Callable[["Ctx"], Response]


@dataclass
class Ctx:
    request: Request
    db: Session
    settings: Settings
    body: bytes
    user: User | None = None
    actor: Actor | None = None
    lang: str = "ja"
    set_cookies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    # Work that must be committed even though the request fails (failed sign-in counters):
    # run in a fresh transaction after the request's own transaction has been rolled back.
    on_failure: list[Callable[[Session], None]] = field(default_factory=list)
    _ladder: ladders.Ladder | None = None

    @property
    def ladder(self) -> ladders.Ladder:
        """The milestone ladder of the signed-in user's city (the defaults when signed out)."""
        if self._ladder is None:
            self._ladder = (
                ladders.for_municipality(self.db, self.actor.municipality_id) if self.actor else ladders.default()
            )
        return self._ladder

    @property
    def me(self) -> Actor:
        """The signed-in actor (routes with a permission other than PUBLIC always have one)."""
        if self.actor is None:
            raise ApiError(401, "unauthenticated")
        return self.actor

    def json(self) -> Any:
        """The request body as JSON; malformed JSON is a 400 with code `malformed_json`."""
        try:
            return json.loads(self.body or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, "malformed_json") from exc

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise ApiError(400, "malformed_json")
        return data

    def form(self) -> dict[str, str]:
        parsed = urllib.parse.parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def path_uuid(self, name: str) -> uuid.UUID:
        try:
            return uuid.UUID(str(self.request.path_params[name]))
        except ValueError as exc:
            raise ApiError(404, "not_found") from exc

    def t(self, key: str, **params: Any) -> str:
        # A city may relabel milestone steps: every page gets its labels through here.
        if key.startswith("milestone"):
            relabelled = self.ladder.catalogue_text(key, self.lang)
            if relabelled is not None:
                return relabelled
        return i18n.t(self.lang, key, **params)


def session_cookie_name(settings: Settings) -> str:
    return "__Host-yorisoi" if settings.https else "yorisoi_session"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _language(request: Request, user: User | None, settings: Settings) -> str:
    if user is not None and user.language in i18n.LANGUAGES:
        return user.language
    chosen = request.cookies.get("lang")
    if chosen in i18n.LANGUAGES:
        return chosen
    return settings.default_language


def _has_nul(request: Request, body: bytes) -> bool:
    """A NUL character in a query string or body. PostgreSQL text cannot hold one, so it would fail
    in the database as a 500 (found by Schemathesis); no legitimate input contains one."""
    if b"%00" in request.scope.get("query_string", b""):
        return True
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return b"%00" in body or b"\x00" in body
    return b"\x00" in body or b"\\u0000" in body


def without_database(handler: Callable[[Request], Response]) -> Callable[[Request], Any]:
    """Declare a public GET route that reads neither the database nor the session: the app shell's
    files (an in-memory dict) and the API's description. It takes no admission place and opens no
    transaction, so a precache during a morning burst is never refused 503 `server_busy`, never
    waits for SQLite's write lock and costs no pooled connection (docs/performance.md, "Session 7
    (issue #9): the app shell without the database"). The handler runs on the event loop: it must
    be quick and must not block. Errors are the API's JSON shape in the visitor's language (no
    user is looked up: the `lang` cookie or the default). No device header reaches these routes
    (js/api.js sends it on API calls only), so no revoked installation's wipe signal is lost."""

    async def endpoint(request: Request) -> Response:
        try:
            if _has_nul(request, b""):
                raise ApiError(400, "invalid_request")
            return handler(request)
        except ApiError as exc:
            lang = _language(request, None, request.app.state.settings)
            return error_response(exc.status, exc.code, lang, field=exc.field, headers=exc.headers)

    endpoint.permission = Permission.PUBLIC  # type: ignore[attr-defined]
    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def route(
    permission: Permission, *, page: bool = False, error_template: str | None = None, signs_in: bool = False
) -> Callable[[Handler], Callable[[Request], Any]]:
    """Declare a route's permission. `page=True` renders errors as pages and sends a signed-out
    visitor to the sign-in page instead of answering 401; `error_template` renders the errors of
    a form page on the form itself; `signs_in=True` marks a route whose POST checks a password
    (it waits for a sign-in place first: server/security/admission.py)."""

    def decorate(handler: Handler) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            body = b""
            if request.method not in ("GET", "HEAD"):
                chunks = []
                size = 0
                try:
                    async for chunk in request.stream():
                        size += len(chunk)
                        if size > MAX_BODY:
                            return error_response(413, "payload_too_large")
                        chunks.append(chunk)
                except ClientDisconnect:
                    # The client gave up (a phone's timeout, lost signal): not a server fault, and
                    # nothing to answer. 499 only names it in the access log.
                    log.debug("client went away before its request was read")
                    return Response(status_code=499)
                body = b"".join(chunks)
            admission: Admission = request.app.state.admission
            try:
                async with admission.turn(signs_in=signs_in and request.method == "POST"):
                    return await run_in_threadpool(_run, request, body)
            except Busy:
                return _busy(request, body, f"no turn within {admission.wait_seconds:g} s")

        def _busy(request: Request, body: bytes, what: str) -> Response:
            """503 `server_busy`: a temporary failure, nothing was done; the client tries again later."""
            log.warning("server busy: %s", what)
            lang = _language(request, None, request.app.state.settings)
            exc = ApiError(503, "server_busy", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
            if page:
                return _error_page(request, exc, lang, error_template, body)
            return error_response(exc.status, exc.code, lang, headers=exc.headers)

        def _run(request: Request, body: bytes) -> Response:
            try:
                return _transaction(request, body)
            except (OperationalError, PoolTimeout) as exc:
                # The database is busy or unreachable, or no connection came free in time: a
                # temporary failure, nothing was committed. Logged by type only (messages carry SQL).
                name = type(exc.orig).__name__ if isinstance(exc, OperationalError) else "pool timeout"
                return _busy(request, body, f"database unavailable ({name})")

        def _transaction(request: Request, body: bytes) -> Response:
            settings: Settings = request.app.state.settings
            factory: sessionmaker[Session] = request.app.state.db
            lang = settings.default_language
            resolved: tuple[User, Actor] | None = None
            ctx: Ctx | None = None
            try:
                with factory() as db, db.begin():
                    ctx = Ctx(request=request, db=db, settings=settings, body=body)
                    if _has_nul(request, body):
                        raise ApiError(400, "invalid_request")
                    # The session and, when the request names its device, whether that device is
                    # revoked: one query.
                    resolved, revoked = auth.identify(
                        db, settings, request.cookies.get(session_cookie_name(settings)),
                        request.headers.get(devices.HEADER),
                    )  # fmt: skip
                    if resolved is not None:
                        ctx.user, ctx.actor = resolved
                    ctx.lang = lang = _language(request, ctx.user, settings)
                    # A revoked installation is told to wipe itself, signed in or not (services/devices).
                    if revoked is not None:
                        signal_actor = ctx.actor
                        ctx.on_failure.append(lambda s: devices.record_wipe_signal(s, signal_actor, revoked))
                        raise devices.revoked_error()
                    if permission is not Permission.PUBLIC:
                        if ctx.actor is None:
                            raise ApiError(401, "unauthenticated")
                        if not ctx.actor.can(permission):
                            raise ApiError(403, "forbidden")
                    response = handler(ctx)
                    for name, value, opts in ctx.set_cookies:
                        response.set_cookie(name, value, **opts)
                    return response
            except ApiError as exc:
                if ctx is not None and ctx.on_failure:
                    with factory() as db, db.begin():
                        for work in ctx.on_failure:
                            work(db)
                if exc.status in (403, 404) and resolved is not None:
                    _audit_denial(factory, resolved[1], request, exc)
                if page:
                    return _error_page(request, exc, lang, error_template, body)
                return error_response(exc.status, exc.code, lang, field=exc.field, headers=exc.headers)

        endpoint.permission = permission  # type: ignore[attr-defined]
        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return decorate


def _audit_denial(factory: sessionmaker[Session], actor: Actor, request: Request, exc: ApiError) -> None:
    """Authorization denials are audited in their own transaction (the request's was rolled back)."""
    with factory() as db, db.begin():
        # The route's template, not the raw path: a client may put anything in a path.
        detail = f"{exc.code} {logged_path(request.scope)}"
        audit.record(db, actor, "access.denied", outcome="denied", detail=detail[:200])


def _error_page(request: Request, exc: ApiError, lang: str, error_template: str | None, body: bytes) -> Response:
    if exc.status == 401 and error_template is None:
        target = urllib.parse.quote(request.url.path, safe="/")
        return RedirectResponse(f"/login?next={target}", status_code=303)
    templates = request.app.state.templates
    form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
    context = {
        "status": exc.status,
        "error": exc.code,
        "lang": lang,
        "user": None,
        "actor": None,
        "t": lambda key, **params: i18n.t(lang, key, **params),
        "form": form,
    }
    return cast(
        Response,
        templates.TemplateResponse(
            request, error_template or "error.html", context, status_code=exc.status, headers=exc.headers
        ),
    )


class FastJSONResponse(JSONResponse):
    """JSON in UTF-8 through orjson, which also writes UUIDs (canonical form), dates and aware
    datetimes (ISO 8601, `+00:00`, microseconds only when set: the same text as `str()` and
    `isoformat()`) itself, in C. A first sync sends ~9 MB of JSON in pages: with the standard
    encoder and a `str()`/`isoformat()` per field, that was a fifth of its time."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def json_response(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def render(ctx: Ctx, template: str, status: int = 200, **context: Any) -> Response:
    """Render a page with the catalogue, the language and the user's date preference."""
    from server.i18n import dates

    era = ctx.user.era_dates if ctx.user is not None else True
    base = {
        "lang": ctx.lang,
        "user": ctx.user,
        "actor": ctx.actor,
        "t": ctx.t,
        "fmt_date": lambda d: dates.format_date(d, ctx.lang, era) if d else "",
        "fmt_datetime": lambda d: dates.format_datetime(d, ctx.lang, era) if d else "",
    }
    base.update(context)
    templates = ctx.request.app.state.templates
    return cast(Response, templates.TemplateResponse(ctx.request, template, base, status_code=status))
