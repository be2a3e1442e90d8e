"""Schemathesis against /api/openapi.json, as each role's signed-in session (and signed out).

For every operation of the document, Hypothesis generates valid and invalid requests (a bounded
number, the whole run well under a minute); each answer must not be a 5xx, must have a documented
status and content type, and must match the documented schema. Random ids are never in anyone's
scope, so an alert id the world does not hold must never answer 2xx, and no generated mutation
may be applied to a case the role does not work on.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from server.app import create_app
from server.db import make_session_factory
from server.settings import Settings
from tests.authz_support import TARGETS, USERS, World, build_world, fresh_alert
from tests.conftest import _truncate

EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Signing out would end the role's session for the operations after it; it is called last, once.
LAST = ("DELETE", "/api/session")


@pytest.fixture(scope="module")
def fuzz_world(
    database_url: str, engine: Engine, test_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, World]]:
    settings_ = Settings(
        data_dir=tmp_path_factory.mktemp("fuzz"),
        database_url=database_url,
        base_url="http://testserver",
        alert_interval_minutes=0,
    )
    app = create_app(settings_)
    with contextlib.ExitStack() as stack:
        try:
            world = build_world(make_session_factory(test_engine), lambda: stack.enter_context(TestClient(app)))
            for target in TARGETS:
                fresh_alert(world, target)
            yield schemathesis.openapi.from_asgi("/api/openapi.json", app), world
        finally:
            stack.close()
            _truncate(engine)


def _alert_ids(world: World) -> set[str]:
    from sqlalchemy import select

    from server.models import Alert

    with world.db() as s:
        return {str(i) for i in s.scalars(select(Alert.id))}


def _out_of_scope_2xx(case: Any, response: Any, known_alerts: set[str], own_cases: set[str]) -> str | None:
    if not 200 <= response.status_code < 300:
        return None
    path = case.operation.path
    if path.startswith("/api/alerts/{alert_id}") and str(case.path_parameters.get("alert_id")) not in known_alerts:
        return f"{case.method} {case.formatted_path} answered {response.status_code} for an unknown alert"
    if path == "/api/sync/push":
        for result, mutation in zip(response.json()["results"], case.body["mutations"], strict=False):
            args = mutation.get("args") or {}
            target = str(args.get("case_id", args.get("id", "")))
            if result["status"] == "applied" and mutation["name"] != "case.create" and target not in own_cases:
                return f"mutation {mutation['name']} applied to a case outside the scope"
    return None


def test_random_alert_ids_are_never_found(fuzz_world: tuple[Any, World]) -> None:
    _schema, world = fuzz_world
    for role in USERS:
        for path in (f"/api/alerts/{uuid.uuid4()}", "/api/alerts/not-a-uuid"):
            assert world.clients[role].get(path).status_code in (403, 404)


NUL_REQUESTS = [  # each was a 500 on PostgreSQL (text cannot hold NUL), found by this fuzzing
    ("DELETE", "/api/push/subscriptions", {"json": {"endpoint": "https://x\u0000"}}),
    (
        "POST",
        "/api/sync/push",
        {
            "json": {
                "client_id": str(uuid.uuid4()),
                "schema_version": 1,
                "mutations": [{"mid": 1, "name": "x", "args": {"a": "\u0000"}}],
            }
        },
    ),
    ("POST", "/api/session", {"json": {"username": "a\u0000", "password": "p"}}),
    ("GET", "/cases?q=%00", {}),
    ("POST", "/login", {"data": {"username": "a\u0000", "password": "p"}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), NUL_REQUESTS)
def test_nul_characters_are_refused_not_500(
    fuzz_world: tuple[Any, World], method: str, path: str, kwargs: dict[str, Any]
) -> None:
    _schema, world = fuzz_world
    r = world.clients["coordinator"].request(method, path, **kwargs)
    assert r.status_code == 400


def _fuzz(operation: Any, mode: GenerationMode, examples: int, visit: Any) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    def run(case: Any) -> None:
        visit(case)

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (no parameters, no body)
        run()


@pytest.mark.parametrize("role", [*USERS, "signed_out"])
def test_api_as_role(fuzz_world: tuple[Any, World], role: str) -> None:
    schema, world = fuzz_world
    cookies = dict(world.clients[role].cookies) if role != "signed_out" else {}
    headers = {"X-Yorisoi-Device": world.client_id(role)}
    known_alerts = _alert_ids(world)
    own_cases = {str(c.id) for c in world.cases.values()}  # a superset: scope is the matrix's job
    failures: list[str] = []
    seen: dict[tuple[str, str, int], int] = {}
    operations = sorted(
        (r.ok() for r in schema.get_all_operations()), key=lambda op: (op.method.upper(), op.path) == LAST
    )

    def visit(case: Any) -> None:
        response = case.call(cookies=cookies, headers=headers)
        key = (case.method, case.operation.path, response.status_code)
        seen[key] = seen.get(key, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # collected, so one run reports every kind of failure
            failures.append(f"{case.method} {case.formatted_path}: {str(exc)[:400]}")
            return
        wrong = _out_of_scope_2xx(case, response, known_alerts, own_cases)
        if wrong:
            failures.append(wrong)

    for operation in operations:
        for mode, examples in EXAMPLES.items():
            _fuzz(operation, mode, examples, visit)
    # Every operation was reached, and signed-in roles got past authentication somewhere.
    assert {(m, p) for m, p, _ in seen} == {(op.method.upper(), op.path) for op in operations}
    if role != "signed_out":
        assert any(200 <= status < 300 for _m, path, status in seen if path != "/api/openapi.json")
    assert failures == [], "\n".join(sorted(set(failures))[:20])
