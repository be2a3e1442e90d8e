"""Helpers for the sync tests: a model phone that keeps an outbox and applies pulled changes the way
sync/PROTOCOL.md tells the field app to."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import event
from starlette.testclient import TestClient

from server.models import Case

T0 = "2025-05-01T10:00:00+09:00"


def contact_args(case_id: uuid.UUID | str, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "case_id": str(case_id),
        "occurred_at": T0,
        "method": "HOME_VISIT",
        "counterpart": "NONE",
        "outcome": "NO_ANSWER",
    }
    args.update(kw)
    return args


def milestone_args(case_id: uuid.UUID | str, milestone: str = "FAMILY_FIRST_CONTACT", **kw: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "case_id": str(case_id), "milestone": milestone, "reached_on": "2025-05-01", **kw}


def case_create_args(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "person": {
            "family_name": "佐藤",
            "given_name": "花子",
            "family_name_kana": "さとう",
            "given_name_kana": "ハナコ",
        },
        "categories": ["hikikomori"],
        "referral_source": "minsei_iin",
        "identified_on": "2025-04-10",
    }
    args.update(kw)
    return args


class Phone:
    """One installation of the field app: a client_id, an outbox with mids, a cursor and a store."""

    def __init__(self, http: TestClient, client_id: uuid.UUID | None = None) -> None:
        self.http = http
        self.client_id = client_id or uuid.uuid4()
        self.next_mid = 1
        self.outbox: list[dict[str, Any]] = []
        self.cursor = ""
        self.store: dict[tuple[str, str], Any] = {}

    def mutation(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        m = {"mid": self.next_mid, "name": name, "args": args, "client_time": dt.datetime.now(dt.UTC).isoformat()}
        self.next_mid += 1
        self.outbox.append(m)
        return m

    def send(self, mutations: list[dict[str, Any]], **extra: Any) -> Any:
        body = {"client_id": str(self.client_id), "schema_version": 1, "mutations": mutations, **extra}
        return self.http.post("/api/sync/push", json=body)

    def push(self, *mutations: dict[str, Any], **extra: Any) -> dict[str, Any]:
        r = self.send(list(mutations), **extra)
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        acked = answer["last_mid"]
        self.outbox = [m for m in self.outbox if m["mid"] > acked]
        return answer

    def do(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """Queue one mutation and push the outbox; the result of that mutation."""
        m = self.mutation(name, args)
        answer = self.push(*list(self.outbox))
        return next(r for r in answer["results"] if r["mid"] == m["mid"])

    def pull_raw(self, cursor: str | None = None, limit: int | None = None, **params: Any) -> Any:
        query: dict[str, Any] = {"client_id": str(self.client_id), **params}
        c = self.cursor if cursor is None else cursor
        if c:
            query["cursor"] = c
        if limit is not None:
            query["limit"] = limit
        return self.http.get("/api/sync/pull", params=query)

    def pull(self, limit: int | None = None, **params: Any) -> dict[str, Any]:
        r = self.pull_raw(limit=limit, **params)
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        self.apply(answer)
        return answer

    def sync(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Pull until up to date; every change received."""
        changes: list[dict[str, Any]] = []
        for _ in range(1000):
            answer = self.pull(limit=limit)
            changes.extend(answer["changes"])
            if not answer["has_more"]:
                return changes
        raise AssertionError("pull never finished")

    def apply(self, answer: dict[str, Any]) -> None:
        if answer["reset"]:
            self.store.clear()
        for c in answer["changes"]:
            key = (c["entity"], c["id"])
            if c["op"] == "put":
                self.store[key] = c["data"]
            else:
                self.store.pop(key, None)
                if c["entity"] == "case":
                    for k in [k for k, v in self.store.items() if isinstance(v, dict) and v.get("case_id") == c["id"]]:
                        del self.store[k]
        self.cursor = answer["cursor"]

    def ids(self, entity: str) -> set[str]:
        return {i for e, i in self.store if e == entity}

    def case(self, case: Case | str) -> dict[str, Any]:
        return dict(self.store[("case", str(case if isinstance(case, str) else case.id))])


class Clients:
    """TestClients over one app, without its lifespan (no background alert runner interfering with
    what the sync tests count); one per signed-in user."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.made: list[TestClient] = []

    def signed_in(self, username: str) -> TestClient:
        from tests.factories import login

        c = TestClient(self.app)
        self.made.append(c)
        login(c, username)
        return c

    def phone(self, username: str, client_id: uuid.UUID | None = None) -> Phone:
        return Phone(self.signed_in(username), client_id)

    def close(self) -> None:
        for c in self.made:
            c.close()
        self.app.state.engine.dispose()


class Statements:
    """The statements an app's requests run (lower-cased, whitespace folded), to see which rows a
    request writes or locks."""

    def __init__(self, app: Any) -> None:
        self.seen: list[str] = []
        event.listen(app.state.engine, "before_cursor_execute", self._note)

    def _note(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seen.append(" ".join(statement.lower().split()))

    def writes(self) -> list[str]:
        """Statements that write or lock a row (but the session's last-seen time, touched once a
        minute whatever the request: server/services/auth.py). A bulk insert on PostgreSQL is a
        COPY (server.bulk)."""
        writing = [s for s in self.seen if s.startswith(("insert", "update", "delete", "copy")) or " for " in s]
        found = [s for s in writing if not s.startswith("update user_session")]
        self.seen.clear()
        return found

    def locks(self) -> set[str]:
        """Which of the two rows every writer queues on were taken: the sync counter, the audit head."""
        taken = set()
        for s in self.seen:
            if s.startswith("update sync_counter"):
                taken.add("sync_counter")
            if "from audit_head" in s and "for update" in s:
                taken.add("audit_head")
            if s.startswith("update audit_head") or s.startswith("insert into audit_event"):
                taken.add("audit_head")
        self.seen.clear()
        return taken
