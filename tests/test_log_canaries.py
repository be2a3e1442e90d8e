"""Nothing personal in logs or error bodies: canary names, a 通称, a phone number and a note are
seeded, the API and the pages are driven through their error paths with the canaries in
arguments, searches, paths and sign-ins, and every log line (all loggers, DEBUG, tracebacks
included) and every error answer is searched for them."""

from __future__ import annotations

import logging
import urllib.parse
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.models.audit import AuditEvent
from tests.factories import Factory, login

FAMILY, GIVEN, PREFERRED = "鳩ヶ谷", "金糸雀", "カナリちゃん"
PHONE = "090-8765-4321"
NOTE = "カナリア備考メモ"
CANARIES = (FAMILY, GIVEN, PREFERRED, PHONE, NOTE, "ハトガヤ", "カナリア")
# The sign-in form is shown again with the user name the visitor typed (their own input, back to them);
# the password never.
OWN_INPUT = {("/login", FAMILY)}
ENCODED = tuple(urllib.parse.quote(c) for c in CANARIES)


def _mutations(case_id: str) -> list[dict[str, Any]]:
    """Mutations that are rejected, each with a canary in its arguments."""
    contact = {
        "case_id": case_id,
        "occurred_at": "2025-05-01T10:00:00+09:00",
        "method": "HOME_VISIT",
        "counterpart": "NONE",
        "notes": NOTE,
    }
    person = {"family_name": FAMILY, "given_name": GIVEN, "preferred_name": PREFERRED, "phone": PHONE}
    return [
        {"name": "contact.create", "args": {**contact, "id": str(uuid.uuid4()), "outcome": NOTE}},
        {"name": "contact.create", "args": {**contact, "id": NOTE, "outcome": "NO_ANSWER"}},
        {"name": "contact.create", "args": {**contact, "id": str(uuid.uuid4()), "outcome": "NO_ANSWER", NOTE: 1}},
        {
            "name": "contact.create",
            "args": {**contact, "id": str(uuid.uuid4()), "case_id": str(uuid.uuid4()), "outcome": "NO_ANSWER"},
        },
        {
            "name": "contact.create",
            "args": {**contact, "id": str(uuid.uuid4()), "outcome": "NO_ANSWER", "notes": NOTE * 3000},
        },
        {"name": "case.create", "args": {"id": str(uuid.uuid4()), "person": {**person, "birth_date": PHONE}}},
        {"name": "case.create", "args": {"id": str(uuid.uuid4()), "person": person, "referral_source": FAMILY}},
        {"name": "case.update", "args": {"id": case_id, "base_version": 1, "changes": {"person.phone": PHONE * 20}}},
        {"name": "case.update", "args": {"id": case_id, "base_version": 1, "changes": {"status": FAMILY}}},
        {
            "name": "case.update",
            "args": {"id": str(uuid.uuid4()), "base_version": 1, "changes": {"person.family_name": FAMILY}},
        },
        {"name": "alert.acknowledge", "args": {"id": str(uuid.uuid4()), "note": NOTE, "next_date": PHONE}},
        {"name": FAMILY, "args": {"x": GIVEN}},
    ]


def _drive(client: TestClient, factory: Factory) -> list[Any]:
    """Every request that should fail, and a few that succeed; returns the answers."""
    answers = []
    worker = factory.user("w1")
    factory.user("c1", role="coordinator")
    case = factory.case(
        workers=(worker,), family_name=FAMILY, given_name=GIVEN, kana=("ハトガヤ", "カナリア"), phone=PHONE
    )
    factory.contact(case, worker, notes=NOTE)
    # Failed sign-ins with a canary as the user name (API and page), and as the password.
    answers.append(client.post("/api/session", json={"username": FAMILY, "password": PHONE}))
    answers.append(client.post("/api/session", json={"username": "w1", "password": NOTE}))
    answers.append(client.post("/api/session", json={"username": FAMILY, "password": "x", "device_id": NOTE}))
    answers.append(client.post("/login", data={"username": FAMILY, "password": PHONE, "next": f"/cases?q={FAMILY}"}))
    answers.append(client.get(f"/api/alerts/{FAMILY}"))  # signed out
    login(client, "w1")
    push = {
        "client_id": str(uuid.uuid4()),
        "schema_version": 1,
        "mutations": [{"mid": i + 1, **m} for i, m in enumerate(_mutations(str(case.id)))],
    }
    answers.append(client.post("/api/sync/push", json=push))
    answers.append(client.post("/api/sync/push", json={**push, "client_id": NOTE}))
    answers.append(client.post("/api/sync/push", json={**push, "schema_version": FAMILY}))
    answers.append(client.post("/api/sync/push", content=f'{{"client_id": "{FAMILY}"'.encode()))
    answers.append(client.get("/api/sync/pull", params={"client_id": PHONE, "cursor": FAMILY}))
    answers.append(client.get("/api/sync/pull", params={"client_id": str(uuid.uuid4()), "cursor": NOTE}))
    answers.append(client.get(f"/api/alerts/{FAMILY}"))
    answers.append(client.get("/api/alerts", params={"state": FAMILY, "limit": PHONE}))
    answers.append(client.post(f"/api/alerts/{uuid.uuid4()}/acknowledge", json={"note": NOTE, "next_date": PHONE}))
    answers.append(
        client.post(
            "/api/push/subscriptions",
            json={"endpoint": f"https://example.com/{FAMILY}", "keys": {"p256dh": NOTE, "auth": PHONE}},
        )
    )
    answers.append(client.request("DELETE", "/api/push/subscriptions", json={"endpoint": PHONE}))
    answers.append(client.get(f"/app/{FAMILY}"))
    answers.append(client.get(f"/nothing/{FAMILY}", params={"q": PHONE}))
    answers.append(client.get(f"/cases/{case.id}"))  # worker: allowed, personal data in the page
    answers.append(client.get(f"/cases/{case.id}/summary"))  # worker: 403
    login(client, "c1")
    answers.append(client.get("/cases", params={"q": FAMILY}))
    answers.append(client.get("/cases", params={"q": "ハトガヤ", "status": FAMILY, "page": PHONE}))
    answers.append(client.get(f"/cases/{FAMILY}"))
    answers.append(client.get(f"/cases/{uuid.uuid4()}", params={"q": FAMILY}))
    answers.append(client.post(f"/cases/{case.id}/reviews", data={"body": NOTE, "sharing_basis": FAMILY}))
    answers.append(client.post(f"/cases/{case.id}/assignments", data={"user_id": PHONE, "role": FAMILY}))
    answers.append(client.post(f"/cases/{case.id}/conflicts/{uuid.uuid4()}", data={"choice": FAMILY}))
    answers.append(client.get(f"/cases/{case.id}/export", params={"format": FAMILY}))
    answers.append(client.get("/reports/contacts.csv", params={"from": FAMILY, "to": PHONE}))
    answers.append(client.get("/dashboard", params={"fiscal_year": PHONE, "team": FAMILY}))
    answers.append(client.post("/preferences", data={"language": FAMILY, "next": f"/cases?q={FAMILY}"}))
    return answers


def test_no_canary_in_any_log_line_or_error_body(
    client: TestClient, factory: Factory, caplog: pytest.LogCaptureFixture, db_factory: sessionmaker[Session]
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = _drive(client, factory)
    assert [r.request.url.path for r in answers if r.status_code >= 500] == []
    errors = [r for r in answers if r.status_code >= 400]
    assert len(errors) > 20  # the error paths were reached
    leaks = [
        f"{r.request.method} {r.request.url.path} {r.status_code}: {c}"
        for r in errors
        for c in CANARIES
        if c in r.text and (r.request.url.path, c) not in OWN_INPUT
    ]
    assert leaks == []
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    # Every logger but the test's own HTTP client (it logs the URLs the test asks for).
    records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    lines = [formatter.format(record) for record in records]  # with tracebacks
    assert any("yorisoi" in line for line in lines)  # the logs were captured
    assert any("GET /cases/{case_id} 404" in line for line in lines)  # the access log names the route
    logged = [line[:300] for line in lines if any(c in line for c in (*CANARIES, *ENCODED))]
    assert logged == [], "\n".join(logged)
    # The audit log (kept longer and exported to admins) holds codes and field names, never values.
    with db_factory() as db:
        rows = [
            " ".join(str(v) for v in (e.action, e.entity, e.entity_id, e.fields, e.detail))
            for e in db.scalars(select(AuditEvent))
        ]
    assert len(rows) > 10
    audited = [row for row in rows if any(c in row for c in (*CANARIES, *ENCODED))]
    assert audited == []


def test_sign_in_page_refusal_does_not_echo_the_user_name(client: TestClient, factory: Factory) -> None:
    """The sign-in form is re-shown after a failure; the typed name is the user's own input, not a
    person of a case, but it must not travel into logs or redirects."""
    r = client.post("/login", data={"username": FAMILY, "password": "x"}, follow_redirects=False)
    assert r.status_code == 401
    assert "location" not in r.headers


def test_access_log_keeps_ids_and_file_names_but_not_other_path_values() -> None:
    from starlette.routing import Route

    from server.security.access_log import logged_path

    route = Route("/cases/{case_id}/conflicts/{conflict_id}", lambda r: None)
    some_id = str(uuid.uuid4())
    scope = {"route": route, "path_params": {"case_id": some_id, "conflict_id": FAMILY}}
    assert logged_path(scope) == f"/cases/{some_id}/conflicts/{{conflict_id}}"
    shell = Route("/app/{path:path}", lambda r: None)
    assert logged_path({"route": shell, "path_params": {"path": "js/app.js"}}) == "/app/js/app.js"
    assert logged_path({"route": shell, "path_params": {"path": PHONE}}) == "/app/{path}"
    assert logged_path({"path": f"/nothing/{FAMILY}"}) == "(no route)"
