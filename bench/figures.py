"""The figures, each beside a floor measured on the same database in the same run.

The app is driven in-process (Starlette's TestClient) so that server time is measured without a
network; `measure.ServerClock` counts only the time inside the application.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyotp
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from bench.generate import Population
from bench.measure import Figure, ServerClock, median_ms, median_of, peak_mib
from server.alerts import lifecycle
from server.models import Alert, Case, Contact, Household, MilestoneEvent, Person

PUSH_BATCH = 500
PULL_PAGE = 1000  # what the field app asks for (pwa/js/sync.js PULL_LIMIT; the server's most, sync/envelope.py)
JST = dt.timezone(dt.timedelta(hours=9))


@dataclass
class Bench:
    engine: Engine
    pop: Population
    clock: ServerClock
    worker: TestClient
    supervisor: TestClient
    runs: int
    db: str  # sqlite | postgres: the suffix of every figure's name

    def name(self, what: str) -> str:
        return f"{what}_{self.db}"


def sign_in(client: TestClient, pop: Population, username: str) -> None:
    body: dict[str, str] = {"username": username, "password": pop.password}
    r = client.post("/api/session", json=body)
    if r.status_code == 401 and r.json()["error"]["code"] == "totp_required":
        r = client.post("/api/session", json={**body, "totp": pyotp.TOTP(pop.totp_secret).now()})
    if r.status_code != 200:
        raise RuntimeError(f"sign-in of {username} failed: {r.status_code}")


def _rows_json(engine: Engine, statements: list[Any]) -> int:
    """The floor of a read: the rows of each statement as dicts, encoded as one JSON document."""
    with engine.connect() as conn:
        doc = [[dict(row._mapping) for row in conn.execute(stmt)] for stmt in statements]
    return len(json.dumps(doc, default=str, ensure_ascii=False).encode())


def _scope_statements(case_ids: list[uuid.UUID]) -> list[Any]:
    return [
        select(Case.__table__, Person.__table__, Household.__table__)
        .join(Person, Person.id == Case.person_id)
        .outerjoin(Household, Household.id == Case.household_id)
        .where(Case.id.in_(case_ids)),
        select(Contact.__table__).where(Contact.case_id.in_(case_ids)),
        select(MilestoneEvent.__table__).where(MilestoneEvent.case_id.in_(case_ids)),
        select(Alert.__table__).where(Alert.case_id.in_(case_ids), Alert.state != "resolved"),
    ]


def _initial_sync(b: Bench, gzipped: list[int] | None = None) -> tuple[int, int, int]:
    """A new installation pulls the worker's whole scope; (bytes, changes, pages). The app sends
    JSON uncompressed; `gzipped` collects what each page would be behind a compressing proxy."""
    client_id, cursor, size, changes, pages = str(uuid.uuid4()), "", 0, 0, 0
    while True:
        params = {"client_id": client_id, "limit": str(PULL_PAGE), **({"cursor": cursor} if cursor else {})}
        r = b.worker.get("/api/sync/pull", params=params)
        if r.status_code != 200:
            raise RuntimeError(f"pull answered {r.status_code}")
        answer = r.json()
        if gzipped is not None:
            gzipped.append(len(gzip.compress(r.content, compresslevel=6)))
        size, changes, pages = size + len(r.content), changes + len(answer["changes"]), pages + 1
        cursor = answer["cursor"]
        if not answer["has_more"]:
            return size, changes, pages


def pull_figures(b: Bench) -> list[Figure]:
    stmts = _scope_statements(b.pop.worker_case_ids)
    floor_ms = median_ms(lambda: _rows_json(b.engine, stmts), b.runs)
    floor_bytes = _rows_json(b.engine, stmts)

    def timed() -> float:
        b.clock.reset()
        _initial_sync(b)
        return b.clock.ms

    value = median_of(timed, b.runs)
    gzipped: list[int] = []
    size, changes, pages = _initial_sync(b, gzipped)
    (_, _, _), mem = peak_mib(lambda: _initial_sync(b))
    print(f"  initial pull: {len(b.pop.worker_case_ids)} cases, {changes} changes in {pages} pages")
    figures = [
        Figure.against(b.name("pull_initial"), value, "ms", 1000, floor_ms, 2),
        Figure.against(b.name("pull_initial_bytes"), size / 1024, "KiB", None, floor_bytes / 1024),
        Figure.against(b.name("pull_initial_gzip_bytes"), sum(gzipped) / 1024, "KiB", None, None),
        Figure.against(b.name("pull_initial_peak_memory"), mem, "MiB", None, None),
    ]
    return figures + _empty_pull(b)


def _empty_pull(b: Bench) -> list[Figure]:
    client_id = str(uuid.uuid4())
    cursor = ""
    while True:  # bring this installation up to date
        answer = b.worker.get(
            "/api/sync/pull", params={"client_id": client_id, **({"cursor": cursor} if cursor else {})}
        ).json()
        cursor = answer["cursor"]
        if not answer["has_more"]:
            break
    sizes: list[int] = []

    def timed() -> float:
        b.clock.reset()
        r = b.worker.get("/api/sync/pull", params={"client_id": client_id, "cursor": cursor})
        if r.status_code != 200 or r.json()["changes"]:
            raise RuntimeError("an up-to-date pull answered changes")
        sizes.append(len(r.content))
        return b.clock.ms

    value = median_of(timed, max(b.runs * 4, 10))
    counter = [select(Case.sync_seq).order_by(Case.sync_seq.desc()).limit(1)]
    floor = median_ms(lambda: _rows_json(b.engine, counter), max(b.runs * 4, 10))
    return [
        Figure.against(b.name("pull_empty"), value, "ms", 5, floor),
        Figure.against(b.name("pull_empty_bytes"), max(sizes), "B", 1024, None),
    ]


def _contact_args(case_id: uuid.UUID, when: dt.datetime, n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()), "case_id": str(case_id), "occurred_at": when.astimezone(JST).isoformat(),
        "method": "HOME_VISIT", "counterpart": "PERSON" if n % 3 else "FAMILY",
        "outcome": "MET_PERSON" if n % 3 else "MET_FAMILY_ONLY", "duration_min": 30,
        "notes": "本人と玄関先で話しました。次回は来週の午後に訪問します。",
    }  # fmt: skip


def push_figures(b: Bench) -> list[Figure]:
    cases = b.pop.worker_case_ids
    worker_id = b.worker.get("/api/session").json()["user"]["id"]

    def batch() -> list[dict[str, Any]]:
        now = dt.datetime.now(dt.UTC)
        return [
            {"mid": n + 1, "name": "contact.create", "client_time": now.isoformat(),
             "args": _contact_args(cases[n % len(cases)], now - dt.timedelta(minutes=10 + n), n)}
            for n in range(PUSH_BATCH)
        ]  # fmt: skip

    def timed() -> float:
        body = {"client_id": str(uuid.uuid4()), "schema_version": 1, "mutations": batch()}
        b.clock.reset()
        r = b.worker.post("/api/sync/push", json=body)
        applied = [x for x in r.json().get("results", []) if x["status"] == "applied"]
        if r.status_code != 200 or len(applied) != PUSH_BATCH:
            raise RuntimeError(f"push answered {r.status_code}: {len(applied)} applied")
        return b.clock.ms

    def plain_insert() -> None:
        now = dt.datetime.now(dt.UTC)
        rows = []
        for m in batch():
            a = m["args"]
            rows.append({**a, "id": uuid.UUID(a["id"]), "case_id": uuid.UUID(a["case_id"]), "occurred_at": now,
                         "reached": "person", "recorded_by": uuid.UUID(worker_id), "received_at": now,
                         "visitor_ids": [], "risk_flags": []})  # fmt: skip
        with b.engine.begin() as conn:
            conn.execute(insert(Contact), rows)

    value = median_of(timed, b.runs)
    floor = median_ms(plain_insert, b.runs)
    return [Figure.against(b.name("push_500"), value, "ms", 1000, floor, 3)]


def stall_figures(b: Bench) -> list[Figure]:
    """The first evaluation over generated data opens every alert the rules find (rolled back, so
    each run does the same work), beside a floor: the alerts it opens written by one plain INSERT
    (rolled back). Then one evaluation is committed and the periodic evaluation — the runner's
    every 15 minutes, alerts already open — is measured."""
    now = dt.datetime.now(dt.UTC)
    opened: list[dict[str, Any]] = []

    def evaluate(commit: bool = False) -> None:
        with Session(b.engine) as s:
            report = lifecycle.evaluate(s, now)
            if not opened:
                opened.extend(
                    {"case_id": e.case_id, "subject_user_id": e.subject_user_id, "team_id": e.team_id,
                     "rule": e.rule, "level": e.level, "escalated_at": now if e.escalated else None}
                    for e in report.of("raised")
                )  # fmt: skip
            s.commit() if commit else s.rollback()

    def plain_insert() -> None:
        with b.engine.connect() as conn:
            conn.execute(insert(Alert), [{**row, "id": uuid.uuid4(), "opened_at": now} for row in opened])
            conn.rollback()

    first = median_ms(evaluate, min(b.runs, 3))  # seconds each: three runs are enough
    first_floor = median_ms(plain_insert, min(b.runs, 3))
    evaluate(commit=True)
    steady = median_ms(evaluate, b.runs)
    _, mem = peak_mib(evaluate)
    return [
        Figure.against(b.name("stall_eval_first"), first, "ms", 2000, first_floor),
        Figure.against(b.name("stall_eval"), steady, "ms", 2000, None),
        Figure.against(b.name("stall_eval_peak_memory"), mem, "MiB", None, None),
    ]


def _page_ms(b: Bench, path: str) -> Callable[[], float]:
    def timed() -> float:
        b.clock.reset()
        r = b.supervisor.get(path)
        if r.status_code != 200:
            raise RuntimeError(f"{path.split('/')[1]} answered {r.status_code}")
        return b.clock.ms

    return timed


def page_figures(b: Bench) -> list[Figure]:
    timeline = f"/cases/{b.pop.big_case}"
    contacts = [select(Contact.__table__).where(Contact.case_id == b.pop.big_case).order_by(Contact.occurred_at)]
    floor = median_ms(lambda: _rows_json(b.engine, contacts), b.runs)
    _page_ms(b, timeline)()  # warm the template cache
    _page_ms(b, "/dashboard")()
    return [
        Figure.against(b.name("timeline_page"), median_of(_page_ms(b, timeline), b.runs), "ms", 100, floor),
        Figure.against(b.name("dashboard"), median_of(_page_ms(b, "/dashboard"), b.runs), "ms", 100, None),
    ]
