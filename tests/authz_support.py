"""The world of the authorization matrix (tests/test_authz_matrix.py): four cases in four places
and one signed-in client per role, built once per module; and one function per action that
performs it on a case and says whether the case's data came back."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.models import Alert, Case, CaseAssignment, CaseConflict, CaseReview, Contact, User
from tests.factories import Factory, login
from tests.factories_office import OfficeFactory

# The person of each case has a distinctive family name: it must never be in a refused answer.
TARGETS: dict[str, tuple[str, str]] = {
    "own": ("北部班", "鶴見"),  # assigned to the worker w1
    "team": ("北部班", "亀山"),  # the worker's team, assigned to w2 (not to w1)
    "other": ("南部班", "鷺沼"),  # another team of the same municipality
    "city": ("隣町班", "鴨川"),  # another municipality
}
PHONES = {target: f"090-4321-{n:04d}" for n, target in enumerate(TARGETS)}
USERS: dict[str, tuple[str, str, str]] = {  # role -> (username, team, municipality)
    "worker": ("w1", "北部班", "テスト市"),
    "coordinator": ("c1", "北部班", "テスト市"),
    "supervisor": ("s1", "北部班", "テスト市"),
    "admin": ("a1", "北部班", "テスト市"),
}
_serial = itertools.count(1)


@dataclass
class World:
    db: sessionmaker[Session]
    factory: Factory
    office: OfficeFactory
    cases: dict[str, Case]
    case_workers: dict[str, User]
    clients: dict[str, TestClient]
    users: dict[str, User]
    next_mid: dict[str, int] = field(default_factory=dict)

    def client_id(self, role: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"yorisoi-test/{role}"))


def build_world(db: sessionmaker[Session], make_client: Callable[[], TestClient]) -> World:
    factory = Factory(db)
    factory.user("w7", team="隣町班", municipality="隣町")
    users = {
        role: factory.user(name, role=role, team=team, municipality=city) for role, (name, team, city) in USERS.items()
    }
    case_workers = {
        "own": users["worker"],
        "team": factory.user("w2", team="北部班"),
        "other": factory.user("w9", team="南部班"),
        "city": factory.user("w8", team="隣町班", municipality="隣町"),
    }
    cases = {
        target: factory.case(
            team=team,
            workers=(case_workers[target],),
            family_name=name,
            given_name="花子",
            kana=("テスト", "ハナコ"),
            phone=PHONES[target],
        )
        for target, (team, name) in TARGETS.items()
    }
    with db() as s, s.begin():  # assigned long ago: records of 2025 are within the assignment
        s.execute(update(CaseAssignment).values(started_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)))
    clients = {}
    for role, (name, _team, _city) in USERS.items():
        client = make_client()
        login(client, name)
        clients[role] = client
    return World(db, factory, OfficeFactory(db), cases, case_workers, clients, users)


@dataclass(frozen=True)
class State:
    """What a write may change on a case; a refused write must leave it equal."""

    assignments: int
    reviews: int
    settled: int
    acknowledged: int
    contacts: int
    version: int
    next_action: str | None


def state(w: World, target: str) -> State:
    case_id = w.cases[target].id
    with w.db() as s:

        def count(model: Any, *where: Any) -> int:
            return int(s.scalar(select(func.count()).select_from(model).where(model.case_id == case_id, *where)) or 0)

        case = s.get(Case, case_id)
        assert case is not None
        return State(
            assignments=count(CaseAssignment),
            reviews=count(CaseReview),
            settled=count(CaseConflict, CaseConflict.resolved_at.is_not(None)),
            acknowledged=count(Alert, Alert.acknowledged_at.is_not(None)),
            contacts=count(Contact),
            version=case.version,
            next_action=case.next_action,
        )


def fresh_alert(w: World, target: str) -> Alert:
    """A new open alert on the case (earlier live ones are resolved: one live alert per rule)."""
    case = w.cases[target]
    with w.db() as s, s.begin():
        s.execute(update(Alert).where(Alert.case_id == case.id).values(state="resolved"))
    return w.office.alert(case, rule="S2")


@dataclass(frozen=True)
class Outcome:
    status: int
    data_shown: bool  # the case's data (its person's name, its id or its alert) is in the answer
    text: str


def _outcome(r: Any, *markers: str) -> Outcome:
    return Outcome(r.status_code, any(m in r.text for m in markers), r.text)


def _name(w: World, target: str) -> str:
    return TARGETS[target][1]


def _push(w: World, role: str, name: str, args: dict[str, Any]) -> Any:
    mid = w.next_mid.get(role, 1)
    body = {
        "client_id": w.client_id(role),
        "schema_version": 1,
        "mutations": [{"mid": mid, "name": name, "args": args, "client_time": "2025-05-01T10:00:00+09:00"}],
    }
    r = w.clients[role].post("/api/sync/push", json=body)
    if r.status_code == 200:
        w.next_mid[role] = mid + 1
    return r


def _applied(r: Any) -> Outcome:
    """A push answers 200 either way; the mutation's own status says whether it was applied."""
    if r.status_code != 200:
        return Outcome(r.status_code, False, r.text)
    result = r.json()["results"][0]
    return Outcome(200, result["status"] == "applied", r.text)


def act(w: World, role: str, action: str, target: str) -> Outcome:
    c = w.clients[role]
    case = w.cases[target]
    base = f"/cases/{case.id}"
    name = _name(w, target)
    if action == "page.timeline":
        return _outcome(c.get(base), name)
    if action == "page.summary":
        return _outcome(c.get(f"{base}/summary"), name)
    if action == "page.export":
        return _outcome(c.get(f"{base}/export"), name)
    if action == "page.alert":
        alert = fresh_alert(w, target)
        return _outcome(c.get(f"/alerts/{alert.id}"), name)
    if action == "page.alerts":
        alert = fresh_alert(w, target)
        return _outcome(c.get("/alerts"), name, str(alert.id))
    if action == "post.assign":
        helper = w.factory.user(
            f"h{next(_serial)}", team=TARGETS[target][0], municipality="隣町" if target == "city" else "テスト市"
        )
        return _outcome(
            c.post(f"{base}/assignments", data={"user_id": str(helper.id), "role": "other"}, follow_redirects=False),
            name,
        )
    if action == "post.review":
        return _outcome(
            c.post(
                f"{base}/reviews", data={"body": "見直し", "sharing_basis": "INTERNAL_ONLY"}, follow_redirects=False
            ),
            name,
        )
    if action == "post.settle":
        conflict = w.office.conflict(case, w.case_workers[target], "next_action", "訪問", "電話")
        return _outcome(
            c.post(f"{base}/conflicts/{conflict.id}", data={"choice": "server"}, follow_redirects=False), name
        )
    if action == "post.alert_ack":
        alert = fresh_alert(w, target)
        return _outcome(c.post(f"/alerts/{alert.id}/acknowledge", data=_ack(), follow_redirects=False), name)
    if action == "api.alert":
        alert = fresh_alert(w, target)
        return _outcome(c.get(f"/api/alerts/{alert.id}"), str(alert.id), str(case.id))
    if action == "api.alerts":
        alert = fresh_alert(w, target)
        return _outcome(c.get("/api/alerts"), str(alert.id), str(case.id))
    if action == "api.alert_ack":
        alert = fresh_alert(w, target)
        return _outcome(c.post(f"/api/alerts/{alert.id}/acknowledge", json=_ack()), str(alert.id))
    if action == "sync.pull":
        return _outcome(c.get("/api/sync/pull", params={"client_id": w.client_id(role)}), str(case.id), name)
    if action == "sync.contact":
        return _applied(
            _push(
                w,
                role,
                "contact.create",
                {
                    "id": str(uuid.uuid4()),
                    "case_id": str(case.id),
                    "occurred_at": "2025-05-01T10:00:00+09:00",
                    "method": "HOME_VISIT",
                    "counterpart": "NONE",
                    "outcome": "NO_ANSWER",
                },
            )
        )
    if action == "sync.update":
        version = state(w, target).version
        return _applied(
            _push(
                w,
                role,
                "case.update",
                {"id": str(case.id), "base_version": version, "changes": {"next_action": f"電話 {next(_serial)}"}},
            )
        )
    raise AssertionError(action)


def _ack() -> dict[str, str]:
    return {"note": "確認しました", "next_date": (dt.date.today() + dt.timedelta(days=7)).isoformat()}
