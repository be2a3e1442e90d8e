"""The landing page: where each role starts."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.permissions import Permission
from server.views.base import Ctx, render, route
from server.vocab import Role


@route(Permission.SIGNED_IN, page=True)
def home(ctx: Ctx) -> Response:
    if ctx.me.role == Role.WORKER:
        return RedirectResponse("/app/", status_code=303)
    # Office roles start where their week starts: the supervisor on the overview, the coordinator on
    # the team's cases (DOMAIN.md §8).
    if ctx.me.role == Role.SUPERVISOR:
        return RedirectResponse("/dashboard", status_code=303)
    if ctx.me.role == Role.COORDINATOR:
        return RedirectResponse("/cases", status_code=303)
    return render(ctx, "home.html")


routes = [Route("/", home, methods=["GET"])]
