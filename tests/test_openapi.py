"""The OpenAPI document describes exactly the JSON API's routes, and is served."""

from __future__ import annotations

from starlette.testclient import TestClient

from server.app import create_app
from server.openapi import document
from server.permissions_doc import walk_routes
from server.settings import Settings


def _api_operations(settings: Settings) -> set[tuple[str, str]]:
    ops = set()
    for info in walk_routes(create_app(settings).routes):
        if info.path.startswith("/api/"):
            ops |= {(info.path, m.lower()) for m in info.methods}
    return ops


def test_every_api_route_is_documented_and_nothing_else(settings: Settings) -> None:
    doc = document()
    described = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert described == _api_operations(settings)


def test_every_operation_documents_its_errors_with_the_one_shape() -> None:
    doc = document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert "503" in codes, (path, method)
            if op.get("security") != []:
                assert "401" in codes, (path, method)
            for code in codes - {"200", "201", "204"}:
                assert op["responses"][code] == {"$ref": f"#/components/responses/E{code}"}
    error = doc["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["required"] == ["code", "message"] and "field" in error["properties"]


def test_sync_push_and_pull_have_request_and_answer_schemas() -> None:
    paths = document()["paths"]
    push = paths["/api/sync/push"]["post"]
    assert push["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PushRequest"}
    assert "200" in push["responses"]
    pull = paths["/api/sync/pull"]["get"]
    assert {p["name"] for p in pull["parameters"]} == {"client_id", "cursor", "limit", "outbox_depth"}


def test_served_without_sign_in(client: TestClient) -> None:
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    assert r.json()["openapi"].startswith("3.1")
    assert r.json() == document()
