"""Who may open which office page and use which action: role × (own case, another team's case) ×
(each page and action). Out of scope answers 404 (the case's existence is not revealed) or 403 (the
role lacks the permission altogether), and never shows the person's name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from tests.factories import Factory, login
from tests.factories_office import OfficeFactory

NAME = "鈴木"  # the person in each case (a canary: never in a refused response)


@dataclass
class World:
    own: Any
    other: Any
    conflict_own: Any
    conflict_other: Any
    own_worker: Any
    other_worker: Any


@pytest.fixture
def world(factory: Factory, db_factory: sessionmaker[Session]) -> World:
    office = OfficeFactory(db_factory)
    w1 = factory.user("w1", team="北部班")
    factory.user("w2", team="北部班")
    factory.user("c1", role="coordinator", team="北部班")
    factory.user("s1", role="supervisor", team="北部班")
    factory.user("a1", role="admin", team="北部班")
    factory.user("c2", role="coordinator", team="南部班")
    south_worker = factory.user("w9", team="南部班")
    own = factory.case(team="北部班", workers=(w1,), family_name=NAME, given_name="一郎", kana=("スズキ", "イチロウ"))
    other = factory.case(team="南部班", workers=(south_worker,), family_name=NAME, given_name="次郎",
                         kana=("スズキ", "ジロウ"))
    return World(
        own=own,
        other=other,
        conflict_own=office.conflict(own, w1, "next_action", "訪問", "電話"),
        conflict_other=office.conflict(other, south_worker, "next_action", "訪問", "電話"),
        own_worker=w1,
        other_worker=south_worker,
    )


def _request(client: TestClient, w: World, action: str, target: str) -> Any:
    case = w.own if target == "own" else w.other
    conflict = w.conflict_own if target == "own" else w.conflict_other
    base = f"/cases/{case.id}"
    if action == "timeline":
        return client.get(base)
    if action == "summary":
        return client.get(f"{base}/summary")
    if action == "export":
        return client.get(f"{base}/export")
    if action == "export_json":
        return client.get(f"{base}/export?format=json")
    if action == "assign":
        worker = w.own_worker if target == "own" else w.other_worker
        return client.post(f"{base}/assignments", data={"user_id": str(worker.id), "role": "other"},
                           follow_redirects=False)
    if action == "review":
        return client.post(f"{base}/reviews", data={"body": "見直し", "sharing_basis": "INTERNAL_ONLY"},
                           follow_redirects=False)
    if action == "settle":
        return client.post(f"{base}/conflicts/{conflict.id}", data={"choice": "server"}, follow_redirects=False)
    raise AssertionError(action)


OK = {"timeline": 200, "summary": 200, "export": 200, "export_json": 200, "assign": 303, "review": 303,
      "settle": 303}
CASE_ACTIONS = tuple(OK)

# (user, target) -> the actions that succeed; everything else gets the listed refusal.
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("w1", "own"): {"timeline"},
    ("w1", "other"): set(),
    ("w2", "own"): set(),  # same team, not assigned
    ("c1", "own"): set(CASE_ACTIONS),
    ("c1", "other"): set(),
    ("c2", "own"): set(),
    ("c2", "other"): set(CASE_ACTIONS),
    ("s1", "own"): set(CASE_ACTIONS),
    ("s1", "other"): set(CASE_ACTIONS),
    ("a1", "own"): set(),
    ("a1", "other"): set(),
}
# Refusals: 403 when the role lacks the permission for the action, 404 when the case is out of scope.
ROLE_CAN = {
    "w1": {"timeline"},
    "w2": {"timeline"},
    "c1": set(CASE_ACTIONS),
    "c2": set(CASE_ACTIONS),
    "s1": set(CASE_ACTIONS),
    "a1": set(),
}


@pytest.mark.parametrize(("user", "target"), list(ALLOWED))
def test_case_pages_and_actions(client: TestClient, world: World, user: str, target: str) -> None:
    """Each page and action in turn (reads first, then writes), one sign-in per user."""
    login(client, user)
    wrong = []
    for action in CASE_ACTIONS:
        r = _request(client, world, action, target)
        if action in ALLOWED[(user, target)]:
            expected = OK[action]
            leaked = False
        else:
            expected = 404 if action in ROLE_CAN[user] else 403
            leaked = NAME in r.text
        if r.status_code != expected or leaked:
            wrong.append((action, r.status_code, expected, "name shown" if leaked else ""))
        if r.status_code == 200 and action not in ("export_json",):
            assert NAME in r.text
    assert wrong == []


@pytest.mark.parametrize(
    ("user", "path", "status"),
    [
        ("w1", "/cases", 200),
        ("c1", "/cases", 200),
        ("s1", "/cases", 200),
        ("a1", "/cases", 403),
        ("w1", "/dashboard", 403),
        ("c1", "/dashboard", 200),
        ("s1", "/dashboard", 200),
        ("a1", "/dashboard", 403),
        ("w1", "/reports/outreach.csv?fiscal_year=2025", 403),
        ("c1", "/reports/outreach.csv?fiscal_year=2025", 403),
        ("s1", "/reports/outreach.csv?fiscal_year=2025", 200),
        ("a1", "/reports/outreach.csv?fiscal_year=2025", 403),
        ("w1", "/reports/contacts.csv?from=2025-04-01&to=2026-03-31", 403),
        ("c1", "/reports/contacts.csv?from=2025-04-01&to=2026-03-31", 403),
        ("s1", "/reports/contacts.csv?from=2025-04-01&to=2026-03-31", 200),
        ("a1", "/reports/contacts.csv?from=2025-04-01&to=2026-03-31", 403),
    ],
)
def test_list_dashboard_and_reports(client: TestClient, world: World, user: str, path: str, status: int) -> None:
    login(client, user)
    r = client.get(path)
    assert r.status_code == status
    if status != 200:
        assert NAME not in r.text


@pytest.mark.parametrize(("user", "visible"), [("w1", {"一郎"}), ("w2", set()), ("c1", {"一郎"}),
                                               ("c2", {"次郎"}), ("s1", {"一郎", "次郎"})])
def test_case_list_shows_only_the_scope(client: TestClient, world: World, user: str, visible: set[str]) -> None:
    login(client, user)
    page = client.get("/cases").text
    assert {n for n in ("一郎", "次郎") if n in page} == visible


def test_signed_out_visitors_go_to_sign_in(client: TestClient, world: World) -> None:
    for path in ("/cases", f"/cases/{world.own.id}", "/dashboard", "/reports/outreach.csv?fiscal_year=2025"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


@pytest.mark.parametrize(("user", "start"), [("c1", "/cases"), ("s1", "/dashboard"), ("w1", "/app/")])
def test_home_sends_each_role_to_its_start(client: TestClient, world: World, user: str, start: str) -> None:
    login(client, user)
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == start
