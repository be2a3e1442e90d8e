"""Every route of the application with the permission it declares, and `docs/permissions.md`
generated from the code.

Threat: a route added without an authorization decision (OWASP ASVS V8.1: access control is
documented and enforced on every endpoint). `walk_routes` lists every endpoint of
`create_app(...)`, recursing into mounts; a route whose endpoint carries no `permission`
(set by `server.views.base.route`) is reported, and a test fails on it. Mounts serving static
files have no endpoint function; their permission is declared here, with the reason.

`python -m server.permissions_doc > docs/permissions.md` rewrites the document; a test checks that
the document's tables equal the generated ones.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from server.permissions import ROLE_PERMISSIONS, Permission
from server.vocab import Role

# Mounts of static files: no handler to decorate, so their permission is declared here.
STATIC_MOUNTS: dict[str, tuple[Permission, str]] = {
    "/static": (Permission.PUBLIC, "stylesheets, scripts and icons of the office pages; no data"),
}

ROLES: tuple[str, ...] = (Role.WORKER, Role.COORDINATOR, Role.SUPERVISOR, Role.ADMIN)

PERMISSION_MEANING: dict[Permission, str] = {
    Permission.PUBLIC: "no sign-in needed (sign-in itself, the app shell, the push key, the API description)",
    Permission.SIGNED_IN: "any signed-in user, about themselves (session, preferences, own device key)",
    Permission.CASE_READ: "read the cases in scope",
    Permission.CASE_WRITE: "record contacts, milestones, consents, next actions; create cases",
    Permission.CASE_ASSIGN: "assign workers to cases in scope and end assignments",
    Permission.CASE_REVIEW: "review comments, settling conflicts, case summaries and exports",
    Permission.SYNC: "the field app's sync (push and pull) over the cases in scope",
    Permission.ALERT_READ: "see alerts about cases in scope; subscribe to push",
    Permission.ALERT_ACK: "acknowledge alerts in scope",
    Permission.REPORT_READ: "municipality-wide figures and CSV reports",
    Permission.TEAM_REPORT_READ: "the dashboard with the own team's figures",
    Permission.USER_ADMIN: "manage user accounts",
    Permission.DEVICE_ADMIN: "list and revoke devices (app installations)",
    Permission.AUDIT_READ: "search and export the audit log",
    Permission.SETTINGS_ADMIN: "change the installation's settings",
}


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: tuple[str, ...]
    permission: Permission | None  # None: the endpoint declares nothing (a test fails on it)
    name: str


def _methods(route: Route) -> tuple[str, ...]:
    methods = set(route.methods or {"GET"})
    if "GET" in methods:
        methods.discard("HEAD")  # Starlette adds HEAD to every GET route
    return tuple(sorted(methods))


def walk_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[RouteInfo]:
    """Every endpoint under `routes`, mounts included, with its declared permission."""
    for route in routes:
        if isinstance(route, Mount):
            path = prefix + route.path
            if isinstance(route.app, StaticFiles):
                declared = STATIC_MOUNTS.get(path)
                yield RouteInfo(path + "/{path}", ("GET",), declared[0] if declared else None, route.name or "")
            else:
                yield from walk_routes(route.routes, path)
        elif isinstance(route, Route):
            permission = getattr(route.endpoint, "permission", None)
            yield RouteInfo(
                prefix + route.path,
                _methods(route),
                permission if isinstance(permission, Permission) else None,
                route.name,
            )
        else:
            # Websockets or custom routes: none exist; listed as undeclared so a test notices.
            yield RouteInfo(prefix + str(getattr(route, "path", "?")), (), None, type(route).__name__)


def role_table() -> list[list[str]]:
    """Rows of the role × permission table: permission, then one cell per role."""
    rows = [["Permission", *ROLES, "Meaning"]]
    for permission in Permission:
        if permission is Permission.PUBLIC:
            continue
        cells = ["✓" if permission in ROLE_PERMISSIONS[role] else "—" for role in ROLES]
        rows.append([f"`{permission.value}`", *cells, PERMISSION_MEANING[permission]])
    return rows


def route_table(infos: Iterable[RouteInfo]) -> list[list[str]]:
    rows = [["Method", "Path", "Permission"]]
    for info in sorted(infos, key=lambda i: (i.path, i.methods)):
        permission = info.permission.value if info.permission else "UNDECLARED"
        rows.append([", ".join(info.methods), f"`{info.path}`", f"`{permission}`"])
    return rows


def _markdown(rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return lines


def render(infos: Iterable[RouteInfo]) -> str:
    lines = [
        "# Permissions",
        "",
        "Generated by `python -m server.permissions_doc > docs/permissions.md` from",
        "`server/permissions.py` (ROLE_PERMISSIONS) and the routes of `server/app.py`;",
        "`tests/test_route_permissions.py` fails when this document and the code disagree.",
        "",
        "Every route declares one permission (`@route(Permission.X)` in `server/views/base.py`; the",
        "app shell and the API description, which read neither the database nor the session, are",
        "`public` through `@without_database`); a signed-out request to a route that is not `public`",
        "answers 401 (pages: a redirect to the sign-in page), and a role without the permission gets 403.",
        "",
        "## Scopes",
        "",
        "A permission on case data applies only to the cases in the actor's scope",
        "(`case_scope` in `server/permissions.py`); a case outside it answers 404, so its existence",
        "is not revealed.",
        "",
        "- worker: the cases they are currently assigned to (the phone holds only the open ones);",
        "- coordinator: the cases of their team;",
        "- supervisor: every case of the municipality;",
        "- admin: no case content at all.",
        "",
        "## Roles × permissions",
        "",
        *_markdown(role_table()),
        "",
        "## Routes",
        "",
        *_markdown(route_table(infos)),
        "",
    ]
    return "\n".join(lines)


def app_routes() -> list[RouteInfo]:
    """The routes of an application built with throw-away settings (nothing is connected)."""
    from server.app import create_app
    from server.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/unused.sqlite3"))
        infos = list(walk_routes(app.routes))
        app.state.engine.dispose()
    return infos


def parse_tables(markdown: str) -> list[list[list[str]]]:
    """The tables of a Markdown document, as rows of cells (separator rows dropped)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if current is None:
                current = []
                tables.append(current)
            if not all(set(c) <= {"-", ":"} and c for c in cells):
                current.append(cells)
        else:
            current = None
    return tables


def main(argv: Any = None) -> int:
    sys.stdout.write(render(app_routes()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
