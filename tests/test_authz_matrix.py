"""The authorization matrix, generated: each role × each case (own, the team's, another team's,
another municipality's) × each action on the office pages, the JSON API and sync.

The expected outcome comes from the two declarative tables below, not from the code under test:
what each role may do at all (`ROLE_ACTIONS`), and which cases each role works on (`SCOPE`).
Allowed → 2xx/3xx with the case's data; denied → 403 (the role lacks the permission) or 404 (the
case is out of scope; its existence is not revealed), never the data, and a denied write changes
nothing. Lists (alerts, sync pull) answer out-of-scope cases by leaving them out; sync push answers
200 with the mutation `rejected`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from server.app import create_app
from server.db import make_session_factory
from server.settings import Settings
from tests.authz_support import PHONES, TARGETS, USERS, World, act, build_world, state
from tests.conftest import _truncate

PAGE_READS = ("page.timeline", "page.summary", "page.export", "page.alert")
PAGE_WRITES = ("post.assign", "post.review", "post.settle", "post.alert_ack")
API = ("api.alert", "api.alert_ack")
LISTS = ("page.alerts", "api.alerts", "sync.pull")
PUSHES = ("sync.contact", "sync.update")
ACTIONS = (*PAGE_READS, *PAGE_WRITES, *API, *LISTS, *PUSHES)

FIELD_WORK = {
    "page.timeline",
    "page.alert",
    "page.alerts",
    "post.alert_ack",
    "api.alert",
    "api.alerts",
    "api.alert_ack",
    "sync.pull",
    "sync.contact",
    "sync.update",
}
ROLE_ACTIONS: dict[str, set[str]] = {
    "worker": FIELD_WORK,
    "coordinator": set(ACTIONS),
    "supervisor": set(ACTIONS),
    "admin": set(),  # no case content at all
}
SCOPE: dict[str, set[str]] = {
    "worker": {"own"},  # assigned cases only, not the rest of the team's
    "coordinator": {"own", "team"},
    "supervisor": {"own", "team", "other"},  # the municipality, not the neighbouring one
    "admin": set(),
}
# What an allowed write changes (a field of authz_support.State).
WRITES = {
    "post.assign": "assignments",
    "post.review": "reviews",
    "post.settle": "settled",
    "post.alert_ack": "acknowledged",
    "api.alert_ack": "acknowledged",
    "sync.contact": "contacts",
    "sync.update": "version",
}


def expected(role: str, action: str, target: str) -> tuple[bool, int]:
    """(allowed, status)."""
    if action not in ROLE_ACTIONS[role]:
        return False, 403
    allowed = target in SCOPE[role]
    if action in LISTS or action in PUSHES:
        return allowed, 200
    if not allowed:
        return False, 404
    return True, 303 if action in PAGE_WRITES else 200


@pytest.fixture(scope="module")
def world(
    database_url: str, engine: Engine, test_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("authz"),
        database_url=database_url,
        base_url="http://testserver",
        alert_interval_minutes=0,
    )
    app = create_app(settings)
    with contextlib.ExitStack() as stack:
        try:
            yield build_world(make_session_factory(test_engine), lambda: stack.enter_context(TestClient(app)))
        finally:
            stack.close()
            _truncate(engine)


CASES = [(role, target, action) for role in USERS for target in TARGETS for action in ACTIONS]


@pytest.mark.parametrize(("role", "target", "action"), CASES, ids=["-".join(c) for c in CASES])
def test_matrix(world: World, role: str, target: str, action: str) -> None:
    allowed, status = expected(role, action, target)
    before = state(world, target)
    outcome = act(world, role, action, target)
    after = state(world, target)
    assert outcome.status == status, outcome.text[:300]
    # A page write answers with a redirect and no body: its change of state is its evidence.
    assert outcome.data_shown == (allowed and action not in PAGE_WRITES), outcome.text[:300]
    if action in WRITES:
        if allowed:
            assert getattr(after, WRITES[action]) != getattr(before, WRITES[action])
        else:
            assert after == before
    if not allowed:
        assert TARGETS[target][1] not in outcome.text
        assert PHONES[target] not in outcome.text


def test_the_tables_cover_every_role_and_action() -> None:
    assert set(ROLE_ACTIONS) == set(SCOPE) == set(USERS)
    assert all(actions <= set(ACTIONS) for actions in ROLE_ACTIONS.values())
    assert set(WRITES) == {*PAGE_WRITES, "api.alert_ack", *PUSHES}


# Routes about no single case: the status each role gets.
ROLE_PAGES: dict[str, dict[str, int]] = {
    "/cases": {"worker": 200, "coordinator": 200, "supervisor": 200, "admin": 403},
    "/alerts": {"worker": 200, "coordinator": 200, "supervisor": 200, "admin": 403},
    "/dashboard": {"worker": 403, "coordinator": 200, "supervisor": 200, "admin": 403},
    "/reports/outreach.csv?fiscal_year=2025": {"worker": 403, "coordinator": 403, "supervisor": 200, "admin": 403},
    "/reports/contacts.csv?from=2025-04-01&to=2026-03-31": {
        "worker": 403,
        "coordinator": 403,
        "supervisor": 200,
        "admin": 403,
    },
    "/admin/devices": {"worker": 403, "coordinator": 403, "supervisor": 403, "admin": 200},
    "/admin/ladder": {"worker": 403, "coordinator": 403, "supervisor": 403, "admin": 200},
    "/admin/thresholds": {"worker": 403, "coordinator": 403, "supervisor": 403, "admin": 200},
    # The audit log, read after the matrix above filled it: never a person's name (asserted below).
    "/admin/audit": {"worker": 403, "coordinator": 403, "supervisor": 403, "admin": 200},
    "/admin/audit.csv": {"worker": 403, "coordinator": 403, "supervisor": 403, "admin": 200},
    "/api/session": {"worker": 200, "coordinator": 200, "supervisor": 200, "admin": 200},
}
PAGES = [(path, role) for path, by_role in ROLE_PAGES.items() for role in by_role]


@pytest.mark.parametrize(("path", "role"), PAGES)
def test_role_pages(world: World, path: str, role: str) -> None:
    r = world.clients[role].get(path, follow_redirects=False)
    assert r.status_code == ROLE_PAGES[path][role]
    if role == "admin" or r.status_code != 200:
        assert not any(name in r.text for _team, name in TARGETS.values())
