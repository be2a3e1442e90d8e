"""The application factory: the route list and the middleware list, nothing else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from server.alerts.runner import start_background
from server.db import make_engine, make_session_factory
from server.errors import ApiError
from server.security.access_log import AccessLogMiddleware
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


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # The stall-rule evaluation and push delivery thread (server/alerts/runner.py).
    runner = start_background(app.state.db, app.state.settings)
    try:
        yield
    finally:
        if runner is not None:
            runner.stop()
        app.state.engine.dispose()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
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
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    app.state.templates = Jinja2Templates(env=env)
    return app
