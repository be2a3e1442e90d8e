"""The demo municipality: contents, idempotence, determinism, and a case for every stall rule.

Self-contained on purpose: each backend gets its own fresh, migrated database (a SQLite file, and with
YORISOI_TEST_DATABASE_URL a uniquely named PostgreSQL database created and dropped here). The stall
checks are plain Python over the loaded rows, written from DOMAIN.md §4 and independent of the alert
engine, so they say what the demo offers rather than what the engine does with it.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from server import migrate
from server.db import Base, make_engine
from server.demo import DemoSummary, load_demo
from server.errors import ApiError
from server.kana import kana_key
from server.models import (
    Case,
    CaseAssignment,
    CaseReview,
    Consent,
    Contact,
    Device,
    MilestoneEvent,
    Organisation,
    Person,
    Team,
    User,
)
from server.security.passwords import verify_password
from server.vocab import (
    CATEGORIES,
    FAMILY_ONLY_STAGES,
    MILESTONE_RANK,
    NEGATIVE_OUTCOMES,
    OUTCOMES,
    REFERRAL_SOURCES,
    SETBACK,
    Role,
)

TOKYO = ZoneInfo("Asia/Tokyo")
PG_URL = os.environ.get("YORISOI_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]
TODAY = dt.datetime.now(TOKYO).date()


@contextmanager
def fresh_engine(backend: str, folder: Path) -> Iterator[Engine]:
    """A new, migrated database that no other test (or run) shares."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{folder / f'demo-{uuid.uuid4().hex[:8]}.sqlite3'}")
        drop = None
    else:
        name = f"yorisoi_demo_{uuid.uuid4().hex[:12]}"
        admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
        drop = (admin, name)
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        if drop is not None:
            admin, name = drop
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def load(engine: Engine, today: dt.date) -> DemoSummary:
    with Session(engine) as session, session.begin():
        return load_demo(session, today)


@dataclass
class Demo:
    engine: Engine
    summary: DemoSummary
    cases: list[Case]
    contacts: dict[uuid.UUID, list[Contact]]  # per case, effective (amendments applied), by time
    amendments: list[Contact]
    milestones: dict[uuid.UUID, list[MilestoneEvent]]  # per case, by date
    assignments: dict[uuid.UUID, list[CaseAssignment]]
    reviews: dict[uuid.UUID, list[CaseReview]]
    users: list[User]


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with fresh_engine(request.param, tmp_path_factory.mktemp("demo")) as engine:
        summary = load(engine, TODAY)
        with Session(engine) as s:
            all_contacts = s.scalars(select(Contact).order_by(Contact.occurred_at, Contact.received_at)).all()
            amendments = [c for c in all_contacts if c.amends_id is not None]
            latest = {c.amends_id: c for c in amendments}  # in received order: the last one wins
            contacts: dict[uuid.UUID, list[Contact]] = defaultdict(list)
            for c in all_contacts:
                if c.amends_id is None:
                    contacts[c.case_id].append(latest.get(c.id, c))
            milestones: dict[uuid.UUID, list[MilestoneEvent]] = defaultdict(list)
            for m in s.scalars(select(MilestoneEvent).order_by(MilestoneEvent.reached_on, MilestoneEvent.received_at)):
                milestones[m.case_id].append(m)
            assignments: dict[uuid.UUID, list[CaseAssignment]] = defaultdict(list)
            for a in s.scalars(select(CaseAssignment)):
                assignments[a.case_id].append(a)
            reviews: dict[uuid.UUID, list[CaseReview]] = defaultdict(list)
            for r in s.scalars(select(CaseReview).order_by(CaseReview.created_at)):
                reviews[r.case_id].append(r)
            cases, users = list(s.scalars(select(Case))), list(s.scalars(select(User)))
        # The session is closed before the tests run: on SQLite an open one would hold the write lock.
        yield Demo(engine, summary, cases, contacts, amendments, milestones, assignments, reviews, users)


def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(TOKYO).date()


def days_ago(day: dt.date) -> int:
    return (TODAY - day).days


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.scalar(select(func.count()).select_from(t)) or 0 for t in Base.metadata.sorted_tables}


# -- contents -------------------------------------------------------------------------------------------


def test_organisations_teams_and_staff(demo: Demo) -> None:
    with Session(demo.engine) as s:
        orgs = {o.id: o for o in s.scalars(select(Organisation))}
        teams = list(s.scalars(select(Team)))
    city = next(o for o in orgs.values() if o.kind == "municipality")
    assert city.name == "架空市"
    shakyo = next(o for o in orgs.values() if o.kind == "shakyo")
    assert shakyo.municipality_id == city.id
    assert len(teams) == 3
    assert all(t.municipality_id == city.id for t in teams)
    assert sorted(orgs[t.operator_id].kind for t in teams) == ["municipality", "municipality", "shakyo"]

    assert len(demo.users) >= 12
    assert {u.role for u in demo.users} == {r.value for r in Role}
    for team in teams:
        members = [u for u in demo.users if u.team_id == team.id]
        assert sum(u.role == "worker" for u in members) == 4
        assert sum(u.role == "coordinator" for u in members) == 1
    expected = {f"worker{i}" for i in range(1, 13)} | {"coord1", "coord2", "coord3", "super1", "super2", "admin"}
    assert {u.username for u in demo.users} == expected
    assert {(u.username, u.role) for u in demo.users} == {(name, role) for name, role, _ in demo.summary.users}
    one = next(u for u in demo.users if u.username == "worker1")
    assert verify_password(one.password_hash, demo.summary.password)


def test_cases_people_and_vocabularies(demo: Demo) -> None:
    assert demo.summary.created
    assert len(demo.cases) >= 80
    assert demo.summary.counts["case_record"] == len(demo.cases)
    assert {c.status for c in demo.cases} == {"open", "watching", "closed"}
    assert all(c.closed_reason and c.closed_on for c in demo.cases if c.status == "closed")
    assert {cat for c in demo.cases for cat in c.categories} == set(CATEGORIES)
    assert {c.referral_source for c in demo.cases} <= set(REFERRAL_SOURCES)
    identified = [days_ago(c.identified_on) for c in demo.cases]
    assert max(identified) <= 550
    assert min(identified) < 30
    assert all(demo.milestones[c.id][0].milestone == "IDENTIFIED" for c in demo.cases)
    assert all(demo.milestones[c.id][0].reached_on == c.identified_on for c in demo.cases)
    assert all(c.sync_seq > 0 for c in demo.cases)  # stamped at commit, so phones pull the demo too
    with Session(demo.engine) as s:
        people = list(s.scalars(select(Person)))
        consents = list(s.scalars(select(Consent)))
    assert all(p.kana_key == kana_key(p.family_name_kana, p.given_name_kana) for p in people)
    assert any(p.birth_date for p in people)
    assert any(p.birth_year and not p.birth_date for p in people)
    assert any(not p.birth_year and not p.birth_date for p in people)
    assert any(p.preferred_name for p in people)
    assert consents
    assert {c.form for c in consents} == {"written", "oral"}
    assert any(c.withdrawn_on for c in consents)


def test_every_outcome_with_a_consistent_method(demo: Demo) -> None:
    contacts = [c for cs in demo.contacts.values() for c in cs]
    assert {c.outcome for c in contacts} == set(OUTCOMES)
    for c in contacts:
        assert c.reached == OUTCOMES[c.outcome]
        assert c.occurred_at.tzinfo is not None
        assert c.occurred_at < c.received_at
        assert local_day(c.occurred_at) < TODAY
        if c.outcome.startswith("PHONE_"):
            assert c.method == "PHONE"
        if c.outcome == "LEFT_LETTER":
            assert c.method in ("LETTER", "HOME_VISIT")
        if c.reached == "person" and c.method != "AGENCY_LIAISON":
            assert c.counterpart == "PERSON"
        if c.outcome in ("NO_ANSWER", "PHONE_NO_ANSWER", "LEFT_LETTER"):
            assert c.counterpart == "NONE" and c.reception is None
        assert 1 <= len(c.visitor_ids) <= 2
    assert any(len(c.visitor_ids) == 2 for c in contacts)
    assert any(c.risk_flags for c in contacts)
    assert {c.sharing_basis for c in contacts} == {"CONSENT", "SHIEN_KAIGI_106_6", "INTERNAL_ONLY", "EMERGENCY"}
    originals = {c.id: c for cs in demo.contacts.values() for c in cs}
    assert len(demo.amendments) >= 3
    with Session(demo.engine) as s:
        for fix in demo.amendments:
            original = s.get(Contact, fix.amends_id)
            assert original is not None and original.case_id == fix.case_id
            assert fix.received_at > original.received_at
    assert originals


def test_setbacks_and_climbing_again(demo: Demo) -> None:
    climbed_again = 0
    for events in demo.milestones.values():
        names = [m.milestone for m in events]
        for i, name in enumerate(names):
            if name != SETBACK:
                continue
            assert events[i].note, "a setback carries its reason"
            before = MILESTONE_RANK[names[i - 1]]
            if any(MILESTONE_RANK.get(later, -1) > before for later in names[i + 1 :]):
                climbed_again += 1
    assert climbed_again >= 1
    connected = [m for ms in demo.milestones.values() for m in ms if m.milestone == "CONNECTED"]
    assert connected and all(m.destination for m in connected)


def test_rare_kanji_round_trip(demo: Demo) -> None:
    with Session(demo.engine) as s:
        for name in ("𠮷田", "髙橋", "山﨑"):
            found = s.scalars(select(Person).where(Person.family_name == name)).all()
            assert found, name
            assert all(p.family_name == name and len(p.family_name) == 2 for p in found)
    assert "\U00020bb7" in "𠮷田"  # the test file itself holds the real character


def test_devices_one_per_worker_and_one_unsynced(demo: Demo) -> None:
    with Session(demo.engine) as s:
        devices = list(s.scalars(select(Device)))
    workers = {u.id for u in demo.users if u.role == "worker"}
    assert sorted(d.user_id for d in devices) == sorted(workers)
    stale = [d for d in devices if d.last_sync_at and days_ago(local_day(d.last_sync_at)) >= 5]
    assert len(stale) == 1
    assert all(d.last_sync_at and days_ago(local_day(d.last_sync_at)) <= 1 for d in devices if d not in stale)


# -- idempotence and determinism ---------------------------------------------------------------------------


def test_loading_twice_changes_nothing(demo: Demo) -> None:
    before = table_counts(demo.engine)
    again = load(demo.engine, TODAY)
    assert not again.created
    assert again.users == demo.summary.users
    assert again.password == demo.summary.password
    assert table_counts(demo.engine) == before


def test_refuses_to_mix_with_existing_staff(tmp_path: Path) -> None:
    with fresh_engine("sqlite", tmp_path) as engine:
        with Session(engine) as s, s.begin():
            city = Organisation(name="どこかの市", kind="municipality")
            s.add(city)
            s.flush()
            team = Team(name="相談班", municipality_id=city.id, operator_id=city.id)
            s.add(team)
            s.flush()
            s.add(User(username="admin", display_name="管理者", role="admin", team_id=team.id, password_hash="x"))
        with pytest.raises(ApiError) as caught:
            load(engine, TODAY)
        assert caught.value.code == "username_taken"
        assert table_counts(engine)["case_record"] == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_ids(backend: str, tmp_path: Path) -> None:
    def snapshot(engine: Engine) -> dict[str, list[Any]]:
        with engine.connect() as conn:
            return {
                t.name: sorted(str(row[0]) for row in conn.execute(select(t.c.id)))
                for t in Base.metadata.sorted_tables
                # Alerts (and their pushes) are derived by the alert engine at load time, not seeded.
                if "id" in t.c and t.name not in ("sync_counter", "server_state", "alert", "push_delivery")
            }

    day = dt.date(2026, 3, 18)
    with fresh_engine(backend, tmp_path) as first, fresh_engine(backend, tmp_path) as second:
        load(first, day)
        load(second, day)
        a, b = snapshot(first), snapshot(second)
    assert a == b
    assert len(a["contact"]) > 1000


# -- the stall rules of DOMAIN.md §4 ---------------------------------------------------------------------


def stalled(demo: Demo, case: Case) -> set[str]:
    """Which rules a case is a candidate for, today (open cases only; R also looks at closed ones)."""
    rules: set[str] = set()
    contacts = demo.contacts[case.id]
    if any(c.outcome == "DECEASED" and days_ago(local_day(c.occurred_at)) <= 7 for c in contacts):
        rules.add("R")
    last_night = [c for c in contacts if c.outcome == "EMERGENCY_RESPONSE"]
    if any(days_ago(local_day(c.occurred_at)) == 1 and c.occurred_at.astimezone(TOKYO).hour >= 18 for c in last_night):
        rules.add("R")
    if case.status != "open":
        return rules
    days = [local_day(c.occurred_at) for c in contacts]
    if case.next_action_due and days_ago(case.next_action_due) > 7 and not any(d >= case.next_action_due for d in days):
        rules.add("S1")
    reached = [local_day(c.occurred_at) for c in contacts if c.reached != "none"]
    since_reach = days_ago(max(reached)) if reached else days_ago(case.identified_on)
    for limit in (90, 60, 30):
        if since_reach >= limit and days_ago(case.identified_on) >= limit:
            rules.add(f"S2_{limit}")
            break
    if len(contacts) >= 4 and all(c.reached == "none" or c.outcome in NEGATIVE_OUTCOMES for c in contacts[-4:]):
        rules.add("S3")
    events = demo.milestones[case.id]
    if days_ago(max(m.reached_on for m in events)) >= 180:
        rules.add("S4")
    ladder = [m.milestone for m in events]
    since_setback = ladder[len(ladder) - ladder[::-1].index(SETBACK) :] if SETBACK in ladder else ladder
    if since_setback and all(m in FAMILY_ONLY_STAGES for m in since_setback) and days_ago(events[0].reached_on) > 180:
        rules.add("S5")
    if case.plan_review_due and case.plan_review_due < TODAY:
        rules.add("S6")
    if not any(a.ended_at is None for a in demo.assignments[case.id]):
        rules.add("S7_unassigned")
    reviews = demo.reviews[case.id]
    if not reviews or days_ago(local_day(reviews[-1].created_at)) >= 90:
        rules.add("S7_review")
    return rules


def test_every_stall_rule_has_a_case(demo: Demo) -> None:
    found: dict[str, list[Case]] = defaultdict(list)
    for case in demo.cases:
        for rule in stalled(demo, case):
            found[rule].append(case)
    expected = {"S1", "S2_30", "S2_60", "S2_90", "S3", "S4", "S5", "S6", "S7_unassigned", "S7_review", "R"}
    assert expected <= set(found), expected - set(found)
    assert any(c.status == "closed" for c in found["R"])  # 死亡確認 on a closed case
    assert any(c.outcome == "EMERGENCY_RESPONSE" for case in found["R"] for c in demo.contacts[case.id])
    assert any(not demo.assignments[c.id] for c in found["S7_unassigned"])  # never assigned
    assert any(demo.assignments[c.id] for c in found["S7_unassigned"])  # the assignment ended
    assert len(found["S1"]) >= 2  # one of them belongs to the worker whose phone is silent (below)
    # The demo is a working caseload, not a wall of alerts: most open cases need no look back.
    open_cases = [c for c in demo.cases if c.status == "open"]
    quiet = [c for c in open_cases if not stalled(demo, c)]
    assert len(quiet) >= len(open_cases) * 0.6


def test_the_silent_phone_has_one_live_case_that_looks_stalled(demo: Demo) -> None:
    """An alert engine may hold back the case alerts of a worker whose phone has not synced (their
    visits may be waiting on it) and say 端末が未同期 instead: the demo gives that worker one live case
    with a field-rule candidate and keeps them off the other rule cases."""
    with Session(demo.engine) as s:
        devices = list(s.scalars(select(Device)))
    silent = next(d.user_id for d in devices if d.last_sync_at and days_ago(local_day(d.last_sync_at)) >= 5)
    live = [c for c in demo.cases if c.status != "closed"
            and any(a.user_id == silent and a.ended_at is None for a in demo.assignments[c.id])]
    assert len(live) == 1
    assert stalled(demo, live[0]) & {"S1", "S2_30", "S2_60", "S2_90", "S3", "S4", "S5"}
    assert all(c.received_at <= d.last_sync_at for d in devices if d.user_id == silent
               for cs in demo.contacts.values() for c in cs if c.device_id == d.id and d.last_sync_at)
