"""The application factory: the route list and the middleware list, nothing else."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio.to_thread
import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from server import collector
from server.alerts.runner import start_background
from server.db import make_engine, make_session_factory, pool_options
from server.errors import ApiError
from server.security import passwords
from server.security.access_log import AccessLogMiddleware
from server.security.admission import Admission
from server.security.csrf import CSRFMiddleware
from server.security.headers import SecurityHeadersMiddleware
from server.settings import Settings
from server.views import account, admin_audit, api_docs, app_shell, errors, exports, home, office, reports, session
from server.views import admin_ladder as ladder_admin
from server.views import admin_thresholds as thresholds_admin
from server.views import alerts as alert_pages
from server.views import cases as case_pages
from server.views import devices as device_views
from server.views import push as push_api
from server.views import sync as sync_api

HERE = Path(__file__).resolve().parent
# Connections the pool keeps beyond the admitted requests and sign-ins: the alert runner's thread,
# and a spare.
POOL_RESERVE = 2

log = logging.getLogger("yorisoi")


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_capacity(settings: Settings) -> None:
    """Warn when the pool could run out before the request limit is reached (then requests wait
    in the pool, and time out there as 503s, instead of waiting in the admission queue)."""
    needed = settings.max_concurrent_requests + settings.max_concurrent_sign_ins + POOL_RESERVE
    if settings.db_pool_size + settings.db_max_overflow < needed:
        log.warning(
            "YORISOI_DB_POOL_SIZE + YORISOI_DB_MAX_OVERFLOW (%d) should be at least "
            "YORISOI_MAX_CONCURRENT_REQUESTS + YORISOI_MAX_CONCURRENT_SIGN_INS + %d (%d)",
            settings.db_pool_size + settings.db_max_overflow,
            POOL_RESERVE,
            needed,
        )


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # Starlette runs each request's transaction in anyio's thread pool (40 threads by default):
    # enough threads for every admitted request.
    limiter = anyio.to_thread.current_default_thread_limiter()
    s: Settings = app.state.settings
    limiter.total_tokens = max(limiter.total_tokens, s.max_concurrent_requests + s.max_concurrent_sign_ins)
    # The stall-rule evaluation and push delivery thread (server/alerts/runner.py).
    runner = start_background(app.state.db, app.state.settings)
    try:
        with collector.tuned():  # server/collector.py
            yield
    finally:
        if runner is not None:
            runner.stop()
        app.state.engine.dispose()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    check_capacity(settings)
    pool = pool_options(
        settings.database_url, settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout_seconds
    )
    engine = make_engine(settings.database_url, **pool)
    routes = [
        *session.routes,
        *home.routes,
        *app_shell.routes,
        *alert_pages.routes,
        *push_api.routes,
        *office.routes,
        *case_pages.routes,
        *exports.routes,
        *reports.routes,
        *sync_api.routes,
        *api_docs.routes,
        *admin_audit.routes,
        *device_views.routes,
        *ladder_admin.routes,
        *thresholds_admin.routes,
        *account.routes,
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(AccessLogMiddleware),
            Middleware(SecurityHeadersMiddleware, https=settings.https),
            Middleware(CSRFMiddleware, origin=settings.origin),
        ],
        lifespan=lifespan,
        exception_handlers={
            ApiError: errors.api_error,
            404: errors.not_found,
            405: errors.method_not_allowed,
        },
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.db = make_session_factory(engine)
    app.state.admission = Admission.of(
        settings.max_concurrent_requests, settings.max_concurrent_sign_ins, settings.request_queue_seconds
    )
    # A check keeps one core busy (argon2id, p = 1): more hashing threads than cores only hold more
    # 19-MiB buffers. Sign-ins beyond that wait for a thread with their place (and transaction) held.
    passwords.use_threads(min(settings.max_concurrent_sign_ins, cores()))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    app.state.templates = Jinja2Templates(env=env)
    return app
