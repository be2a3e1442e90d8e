"""How fast the office pages' queries are at a city's scale: 4,000 cases, ~100,000 contacts.

    .venv/bin/python -m bench.office_pages            # a temporary SQLite database
    YORISOI_BENCH_DATABASE_URL=postgresql://… .venv/bin/python -m bench.office_pages

Prints the median time of each query; never run as a test.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from server import migrate
from server.db import make_engine, utcnow
from server.i18n.dates import fiscal_year_range
from server.kana import kana_key
from server.models import (
    Alert,
    Case,
    CaseAssignment,
    Contact,
    Household,
    MilestoneEvent,
    Organisation,
    Person,
    Team,
    User,
)
from server.services import caselist, dashboard, reports, timeline
from server.services.auth import actor_for
from server.vocab import CATEGORIES, CONTACT_METHODS, MILESTONES, OUTCOMES, REFERRAL_SOURCES

CASES = int(os.environ.get("YORISOI_BENCH_CASES", "4000"))
CONTACTS_PER_CASE = 25
NO_LOGIN = "!"  # users that cannot sign in: not a password hash
KANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワ"


def populate(session: Session, rng: random.Random) -> tuple[User, User]:
    org = Organisation(name="ベンチ市", kind="municipality")
    session.add(org)
    session.flush()
    teams = [Team(name=f"班{i}", municipality_id=org.id, operator_id=org.id) for i in range(4)]
    session.add_all(teams)
    session.flush()
    staff = [
        User(username=f"w{i}", display_name=f"支援員{i}", role="worker", team_id=teams[i % 4].id,
             password_hash=NO_LOGIN)
        for i in range(40)
    ]
    sup = User(username="sup", display_name="統括", role="supervisor", team_id=teams[0].id, password_hash=NO_LOGIN)
    coord = User(username="coord", display_name="調整", role="coordinator", team_id=teams[0].id, password_hash=NO_LOGIN)
    session.add_all([*staff, sup, coord])
    session.flush()
    now = utcnow()
    persons, households, cases, assignments, contacts, milestones, alerts = [], [], [], [], [], [], []
    outcomes = list(OUTCOMES)
    for i in range(CASES):
        kana = "".join(rng.choice(KANA) for _ in range(4))
        pid, hid, cid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        persons.append({"id": pid, "family_name": f"姓{i}", "given_name": "名", "family_name_kana": kana,
                        "given_name_kana": "", "kana_key": kana_key(kana), "created_at": now})
        households.append({"id": hid, "created_at": now})
        team = teams[i % 4]
        identified = dt.date(2022, 4, 1) + dt.timedelta(days=rng.randrange(1200))
        cases.append({"id": cid, "person_id": pid, "household_id": hid, "team_id": team.id,
                      "status": rng.choice(["open", "open", "watching", "closed"]),
                      "categories": rng.sample(CATEGORIES, 2), "referral_source": rng.choice(REFERRAL_SOURCES),
                      "identified_on": identified, "created_at": now, "updated_at": now, "field_versions": {}})
        worker = staff[(i % 4) + 4 * rng.randrange(10)]
        assignments.append({"id": uuid.uuid4(), "case_id": cid, "user_id": worker.id, "is_primary": True,
                            "started_at": now})
        for _ in range(CONTACTS_PER_CASE):
            outcome = rng.choice(outcomes)
            when = now - dt.timedelta(days=rng.randrange(900), minutes=rng.randrange(1440))
            contacts.append({"id": uuid.uuid4(), "case_id": cid, "occurred_at": when,
                             "method": rng.choice(CONTACT_METHODS), "counterpart": "PERSON", "outcome": outcome,
                             "reached": OUTCOMES[outcome], "recorded_by": worker.id, "received_at": when,
                             "visitor_ids": [], "risk_flags": []})
        for step in sorted(rng.sample(range(len(MILESTONES)), 5)):
            milestones.append({"id": uuid.uuid4(), "case_id": cid, "milestone": MILESTONES[step],
                               "reached_on": identified + dt.timedelta(days=step * 20), "recorded_by": worker.id,
                               "received_at": now, "destination": ""})
        if i % 7 == 0:
            alerts.append({"id": uuid.uuid4(), "case_id": cid, "team_id": team.id, "rule": "S2",
                           "level": rng.choice(["caution", "warning", "meeting"]), "state": "open", "opened_at": now})
    for model, rows in ((Person, persons), (Household, households), (Case, cases), (CaseAssignment, assignments),
                        (Contact, contacts), (MilestoneEvent, milestones), (Alert, alerts)):
        for start in range(0, len(rows), 5000):
            session.execute(insert(model), rows[start:start + 5000])
    return sup, coord


def timed(label: str, fn: Callable[[], object], runs: int = 5) -> None:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    print(f"{label:<48} {statistics.median(times):8.1f} ms")


def main() -> int:
    url = os.environ.get("YORISOI_BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    engine = make_engine(url)
    migrate.upgrade(engine)
    rng = random.Random(5)
    with Session(engine) as s, s.begin():
        sup, coord = populate(s, rng)
        sup_id, coord_id = sup.id, coord.id
    print(f"{CASES} cases, {CASES * CONTACTS_PER_CASE} contacts on {engine.dialect.name}")
    now = utcnow()
    with Session(engine) as s:
        actor = actor_for(s, s.get(User, sup_id))  # type: ignore[arg-type]
        team_actor = actor_for(s, s.get(User, coord_id))  # type: ignore[arg-type]
        some_case = s.scalar(select(Case.id).limit(1))
        assert some_case is not None
        for label, f in [
            ("case list, default", caselist.CaseFilters()),
            ("case list, 30 days without reach", caselist.CaseFilters(silent_days=30)),
            ("case list, stage filter", caselist.CaseFilters(stage="FIRST_FACE_TO_FACE")),
            ("case list, search ?q=", caselist.CaseFilters(q="あい")),
            ("case list, page 40 sorted by stage", caselist.CaseFilters(sort="stage", page=40)),
        ]:
            timed(label, lambda f=f: caselist.list_cases(s, actor, f, now))  # type: ignore[misc]
        timed(
            "case list, coordinator (one team)",
            lambda: caselist.list_cases(s, team_actor, caselist.CaseFilters(), now),
        )
        timed("timeline of one case", lambda: timeline.load_case(s, actor, some_case))
        timed("indicators for a 年度", lambda: reports.indicators(s, actor, *fiscal_year_range(2024)))
        timed("dashboard overview", lambda: dashboard.overview(s, actor, now))
        s.rollback()  # the audit rows the reads queued
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
