"""A synthetic municipality at a chosen size, bulk-inserted with SQLAlchemy Core (executemany).

Default size: 40 workers in 4 teams, 4,000 cases, 200,000 contacts, 30,000 milestones (`scale`
multiplies every count, staff included). Every case has a primary worker and two others, so one
worker's sync scope is about 300 cases (its not-closed ones) with their whole history. One case
(`Population.big_case`) gets 1,000 contacts: the timeline page's figure. About 2 % of the contacts
are corrected by a later `contact.amend` (`AMENDED_SHARE`): a new row with `amends_id` set, another
outcome and a later `received_at`, so that every "effective contacts" read has corrections to apply
(the counts above are attempts; the amendments come on top).

The rows keep the app's invariants: `reached` derived from the outcome (server.vocab.OUTCOMES),
`kana_key` from the kana (server.kana), every synced row stamped with a `sync_seq` and the
`sync_counter` moved past them, and `sync_visibility` rows for every worker's scope as the first
pull would record them (sync.scope), so that a measured pull reads the stream, not the one-off
reconciliation. Deterministic: the same seed gives the same rows.

Numbered as months of use would number them (`_Rows.seq_at`): a visit, a milestone and an alert by
the minute it was received, so the visits of a worker's cases interleave in the stream, and every
worker's scope recorded before them (its cases entered it when assigned). Numbered case by case,
each case's history would be one run of the stream and a first sync would look cheaper than it is
(docs/performance.md, session 8).

    .venv/bin/python -m bench.generate --scale 1 [--url postgresql://…]   # prints the counts
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import secrets
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyotp
from sqlalchemy import Table, insert, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from server.alerts import case_facts
from server.kana import kana_key
from server.models import (
    Alert,
    Case,
    CaseAssignment,
    Contact,
    Household,
    HouseholdMember,
    MilestoneEvent,
    Organisation,
    Person,
    Team,
    User,
)
from server.models.sync import SyncCounter, SyncVisibility
from server.security.passwords import hash_password
from server.services.totp import REQUIRED_ROLES
from server.vocab import CATEGORIES, CONTACT_METHODS, COUNTERPARTS, MILESTONES, OUTCOMES, REFERRAL_SOURCES

KANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワ"
FAMILY = ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤")
GIVEN = ("太郎", "花子", "翔", "美咲", "健", "陽子", "大輔", "恵", "拓也", "由美")
NOTES = (
    "玄関先で短く話しました。次回は午後に訪問します。",
    "母親と面談。本人は部屋から出てきませんでした。",
    "電話に応答なし。手紙を投函しました。",
    "本人と散歩に出ました。表情が明るくなっています。",
    "",
)
BATCH = 5000
STATUSES = ("open",) * 6 + ("watching",) * 3 + ("closed",)  # a worker holds ~90 % of their cases
_COUNTERPART = {"person": "PERSON", "family": "FAMILY"}
SEQ_STEP = 1  # a household's number, in insertion order (before every visit's: `_Rows.seq_at`)
HISTORY_DAYS = 1501  # numbers by the minute from this many days ago (a case is identified ≤ 1,500 days ago)
BASE_WORKERS = 40
TEAMS = 4
ASSIGNED_PER_CASE = 3
BIG_CASE_CONTACTS = 1000
AMENDED_SHARE = 0.02  # of contacts corrected later (a new row with amends_id), as phones do with contact.amend
ORDER = (Person, Household, HouseholdMember, Case, CaseAssignment, Contact, MilestoneEvent, Alert, SyncVisibility)


@dataclass(frozen=True)
class Size:
    cases: int
    contacts: int
    milestones: int
    workers: int = BASE_WORKERS

    @classmethod
    def of(cls, scale: float) -> Size:
        """`scale` × the default municipality; staff grows with it, so that a worker's caseload (and
        the measured pull) stays about 300 cases."""
        return cls(cases=int(4000 * scale), contacts=int(200_000 * scale), milestones=int(30_000 * scale),
                   workers=max(TEAMS, int(BASE_WORKERS * scale)))  # fmt: skip


QUICK = Size(cases=120, contacts=3000, milestones=600, workers=8)


@dataclass
class Population:
    """What the benchmarks need to find again in the generated database."""

    size: Size
    worker: str = ""  # the username whose scope the pull figures replicate
    supervisor: str = ""
    coordinator: str = ""
    big_case: uuid.UUID = field(default_factory=uuid.uuid4)
    worker_case_ids: list[uuid.UUID] = field(default_factory=list)  # the worker's cases in scope
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    counts: dict[str, int] = field(default_factory=dict)
    # this run's own sign-in secrets (the database is thrown away with them)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    totp_secret: str = field(default_factory=pyotp.random_base32)
    seconds: float = 0.0


class _Rows:
    """Collects rows per table and writes them in batches; numbers every synced row."""

    def __init__(self, engine: Engine, now: dt.datetime, cases: int) -> None:
        self.engine = engine
        self.pending: dict[Table, list[dict[str, Any]]] = {}
        self.counts: dict[str, int] = {}
        self.seq = 0
        self.time_base = 2 * cases + 10  # above the households (one a case) and the scopes
        self.origin = now - dt.timedelta(days=HISTORY_DAYS)

    def next_seq(self) -> int:
        self.seq += SEQ_STEP
        return self.seq

    def seq_at(self, when: dt.datetime) -> int:
        """The number of a change received at `when`: by the minute, above every household's and
        the scopes' (`time_base`), so numbers follow time across all cases."""
        return self.time_base + int((when - self.origin).total_seconds() // 60)

    def add(self, model: Any, row: dict[str, Any]) -> None:
        table: Table = model.__table__
        rows = self.pending.setdefault(table, [])
        rows.append(row)
        if len(rows) >= BATCH:
            self.flush(ORDER)  # parents before children: the foreign keys hold at every batch

    def flush_table(self, table: Table) -> None:
        rows = self.pending.get(table)
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(insert(table), rows)
        self.counts[table.name] = self.counts.get(table.name, 0) + len(rows)
        self.pending[table] = []

    def flush(self, order: Iterable[Any]) -> None:
        for model in order:
            self.flush_table(model.__table__)


def _staff(rows: _Rows, size: Size, pop: Population) -> tuple[list[uuid.UUID], list[list[uuid.UUID]]]:
    org = uuid.uuid4()
    rows.add(Organisation, {"id": org, "name": "ベンチ市", "kind": "municipality"})
    teams = [uuid.uuid4() for _ in range(TEAMS)]
    for i, tid in enumerate(teams):
        rows.add(Team, {"id": tid, "name": f"第{i + 1}班", "municipality_id": org, "operator_id": org})
    password = hash_password(pop.password)  # once: hashing is deliberately slow
    workers: list[list[uuid.UUID]] = [[] for _ in teams]
    staff = [(f"w{i:03d}", "worker", i % TEAMS) for i in range(size.workers)]
    staff += [("sup", "supervisor", 0), ("coord", "coordinator", 0)]
    for username, role, team in staff:
        uid = uuid.uuid4()
        rows.add(User, {
            "id": uid, "username": username, "display_name": f"支援員 {username}", "role": role,
            "team_id": teams[team], "password_hash": password,
            "totp_secret": pop.totp_secret if role in REQUIRED_ROLES else None,
        })  # fmt: skip
        if role == "worker":
            workers[team].append(uid)
    pop.worker, pop.supervisor, pop.coordinator = "w000", "sup", "coord"
    rows.flush((Organisation, Team, User))
    return teams, workers


def _spread(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` split into `parts` counts of varying size (at least one each when possible)."""
    weights = [rng.random() + 0.2 for _ in range(parts)]
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    for i in range(total - sum(counts)):
        counts[i % parts] += 1
    return counts


def populate(engine: Engine, size: Size, seed: int = 7) -> Population:
    """Write the municipality into a migrated, empty database; what was made."""
    started = time.perf_counter()
    rng = random.Random(seed)
    pop = Population(size=size)
    now = pop.now
    rows = _Rows(engine, now, size.cases)
    teams, workers = _staff(rows, size, pop)
    bench_worker = workers[0][0]
    outcomes = list(OUTCOMES)
    contacts_per_case = [BIG_CASE_CONTACTS, *_spread(max(size.contacts - BIG_CASE_CONTACTS, 0), size.cases - 1, rng)]
    milestones_per_case = _spread(size.milestones, size.cases, rng)
    scope: dict[uuid.UUID, list[uuid.UUID]] = {}  # worker → not-closed cases
    for i in range(size.cases):
        cid = uuid.uuid4() if i else pop.big_case
        pid, hid = uuid.uuid4(), uuid.uuid4()
        team = i % TEAMS
        crew = rng.sample(workers[team], min(ASSIGNED_PER_CASE, len(workers[team])))
        status = "open" if i == 0 else rng.choice(STATUSES)
        fam, given = rng.choice(FAMILY), rng.choice(GIVEN)
        kana = "".join(rng.choice(KANA) for _ in range(4))
        given_kana = "".join(rng.choice(KANA) for _ in range(3))
        identified = (now - dt.timedelta(days=rng.randrange(30, 1500))).date()
        rows.add(Person, {
            "id": pid, "family_name": fam, "given_name": given, "family_name_kana": kana,
            "given_name_kana": given_kana, "kana_key": kana_key(kana, given_kana), "phone": "",
            "created_at": now,
        })  # fmt: skip
        rows.add(Household, {
            "id": hid, "municipality": "ベンチ市", "town": f"{rng.randrange(1, 9)}丁目",
            "block": f"{rng.randrange(1, 30)}-{rng.randrange(1, 20)}", "sync_seq": rows.next_seq(), "created_at": now,
        })  # fmt: skip
        rows.add(HouseholdMember, {"id": uuid.uuid4(), "household_id": hid, "person_id": pid, "relationship": "本人"})
        rows.add(Case, {
            "id": cid, "person_id": pid, "household_id": hid, "team_id": teams[team], "status": status,
            "closed_reason": "moved" if status == "closed" else None,
            "closed_on": now.date() if status == "closed" else None,
            "categories": rng.sample(CATEGORIES, 2), "referral_source": rng.choice(REFERRAL_SOURCES),
            "identified_on": identified, "next_action": "次回訪問", "version": 1, "field_versions": {},
            "created_at": now, "updated_at": now, "sync_seq": 0,  # numbered after its children
        })  # fmt: skip
        for k, uid in enumerate(crew):
            rows.add(CaseAssignment, {"id": uuid.uuid4(), "case_id": cid, "user_id": uid, "is_primary": k == 0,
                                      "started_at": now - dt.timedelta(days=400)})  # fmt: skip
            if status != "closed":
                scope.setdefault(uid, []).append(cid)
        span = max((now.date() - identified).days, 1)
        for _ in range(contacts_per_case[i]):
            outcome = rng.choice(outcomes)
            when = now - dt.timedelta(days=rng.randrange(span), minutes=rng.randrange(1440))
            reached = OUTCOMES[outcome]
            contact = {
                "id": uuid.uuid4(), "case_id": cid, "occurred_at": when, "method": rng.choice(CONTACT_METHODS),
                "counterpart": _COUNTERPART.get(reached, rng.choice(COUNTERPARTS)), "outcome": outcome,
                "reached": reached,
                "duration_min": rng.randrange(5, 90), "visitor_ids": [], "risk_flags": [],
                "notes": rng.choice(NOTES), "next_action": "", "sharing_basis": "INTERNAL_ONLY",
                "recorded_by": rng.choice(crew), "received_at": when, "sync_seq": rows.seq_at(when), "amends_id": None,
            }  # fmt: skip
            rows.add(Contact, contact)
            if rng.random() < AMENDED_SHARE:
                fixed = rng.choice([o for o in outcomes if o != outcome])
                rows.add(Contact, {
                    **contact, "id": uuid.uuid4(), "amends_id": contact["id"], "outcome": fixed,
                    "reached": OUTCOMES[fixed],
                    "counterpart": _COUNTERPART.get(OUTCOMES[fixed], contact["counterpart"]),
                    "received_at": (fixed_at := when + dt.timedelta(hours=rng.randrange(1, 72))),
                    "sync_seq": rows.seq_at(min(fixed_at, now)),
                })  # fmt: skip
        steps = sorted(rng.sample(range(len(MILESTONES)), min(milestones_per_case[i], len(MILESTONES))))
        steps += [rng.randrange(len(MILESTONES)) for _ in range(milestones_per_case[i] - len(steps))]
        for n, step in enumerate(steps):
            reached_on = min(identified + dt.timedelta(days=n * 20), now.date())
            at = min(dt.datetime.combine(reached_on, dt.time(9), dt.UTC) + dt.timedelta(minutes=n), now)
            rows.add(MilestoneEvent, {
                "id": uuid.uuid4(), "case_id": cid, "milestone": MILESTONES[step],
                "reached_on": reached_on, "note": "",
                "destination": "", "sharing_basis": "INTERNAL_ONLY", "recorded_by": crew[0], "received_at": at,
                "sync_seq": rows.seq_at(at),
            })  # fmt: skip
        if i % 7 == 0:
            rows.add(Alert, {"id": uuid.uuid4(), "case_id": cid, "team_id": teams[team], "rule": "S2",
                             "level": rng.choice(["caution", "warning", "meeting"]), "state": "open",
                             "opened_at": now, "sync_seq": rows.seq_at(now)})  # fmt: skip
    rows.flush(ORDER)
    _number_cases_and_scope(rows, scope, now)
    pop.worker_case_ids = scope.get(bench_worker, [])
    pop.counts = dict(rows.counts)
    pop.seconds = time.perf_counter() - started
    return pop


def _number_cases_and_scope(rows: _Rows, scope: dict[uuid.UUID, list[uuid.UUID]], now: dt.datetime) -> None:
    """Cases get a number above their children's (a case's pulled form follows its latest child);
    every worker's scope was recorded before the visits (its cases entered it when assigned): at
    one number below them; the counter stands at the cases'."""
    case_seq = rows.seq_at(now) + 1
    flip = rows.time_base - 1
    with rows.engine.begin() as conn:
        conn.execute(update(Case).values(sync_seq=case_seq))
        conn.execute(update(SyncCounter).where(SyncCounter.id == 1).values(seq=case_seq))
    for uid, case_ids in scope.items():
        for cid in case_ids:
            rows.add(SyncVisibility, {"user_id": uid, "case_id": cid, "visible": True, "sync_seq": flip,
                                      "changed_at": now})  # fmt: skip
    rows.flush((SyncVisibility,))
    _analyze(rows.engine)
    # The per-case facts the stall rules read, as the evaluations would have kept them up to date.
    with Session(rows.engine) as session, session.begin():
        case_facts.refresh(session)
    _analyze(rows.engine)


def _analyze(engine: Engine) -> None:
    """As autovacuum would soon after a load: without statistics the planner guesses — a dashboard
    query over fresh tables took minutes instead of milliseconds, and building the stall rules'
    per-case facts at 40,000 cases ran for over 9 minutes (with statistics the whole 40,000-case
    load, facts included, took 3.5 minutes)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


def main(argv: list[str] | None = None) -> int:
    from bench.databases import temporary_database

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--url", default="", help="a PostgreSQL server URL; default a temporary SQLite file")
    args = parser.parse_args(argv)
    with temporary_database("postgres" if args.url else "sqlite", args.url) as engine:
        pop = populate(engine, Size.of(args.scale))
    print(f"{pop.counts} in {pop.seconds:.1f} s; {len(pop.worker_case_ids)} cases in {pop.worker}'s scope")
    return 0


if __name__ == "__main__":
    sys.exit(main())
