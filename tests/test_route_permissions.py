"""Every route declares its permission, and docs/permissions.md says what the code does."""

from __future__ import annotations

from pathlib import Path

from server.app import create_app
from server.permissions import ROLE_PERMISSIONS, Permission
from server.permissions_doc import ROLES, STATIC_MOUNTS, parse_tables, render, role_table, route_table, walk_routes
from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_route_declares_a_permission(settings: Settings) -> None:
    infos = list(walk_routes(create_app(settings).routes))
    assert len(infos) > 20
    undeclared = [(i.path, i.methods) for i in infos if i.permission is None]
    assert undeclared == [], f"routes without a declared permission: {undeclared}"
    # Every statically served mount is listed in the allow-list with its reason, and vice versa.
    static = {i.path.removesuffix("/{path}") for i in infos if i.path.endswith("/{path}") and i.name == "static"}
    assert static == set(STATIC_MOUNTS)


def test_walk_finds_undeclared_endpoints_inside_mounts() -> None:
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    def bare(_request: object) -> PlainTextResponse:
        return PlainTextResponse("")

    routes = [Mount("/x", routes=[Route("/y", bare)]), Mount("/files", app=StaticFiles(directory=ROOT))]
    found = {(i.path, i.permission) for i in walk_routes(routes)}
    assert found == {("/x/y", None), ("/files/{path}", None)}


def test_every_role_is_described() -> None:
    assert set(ROLES) == set(ROLE_PERMISSIONS)
    assert all(Permission.SIGNED_IN in perms for perms in ROLE_PERMISSIONS.values())


def test_permissions_document_matches_the_code(settings: Settings) -> None:
    infos = list(walk_routes(create_app(settings).routes))
    documented = parse_tables((ROOT / "docs" / "permissions.md").read_text(encoding="utf-8"))
    hint = "regenerate: .venv/bin/python -m server.permissions_doc > docs/permissions.md"
    assert len(documented) == 2, hint
    assert documented[0] == role_table(), hint
    assert documented[1] == route_table(infos), hint
    # The generator's own output parses back to the same tables.
    assert parse_tables(render(infos)) == [role_table(), route_table(infos)]
