"""The sync protocol under an unreliable network, as a Hypothesis state machine.

Several users (two workers, a coordinator) with several clients (the first worker has two phones)
record contacts and milestones, edit cases and create new ones, while pushes are dropped (the
answer is lost), duplicated, delayed and delivered out of order, pulls are dropped and paged, and
the office assigns, unassigns, closes and edits cases. After a quiet sync (every client pushes its
outbox and pulls until up to date):

- every client holds exactly the server restricted to its user's scope — the same as a client
  starting from nothing, and the cases and records the database says are in that scope;
- no acknowledged mutation is lost and none applied twice: every mid a client generated has one
  review record on the server, each applied record exists once, and what a client was told
  ("applied", "rejected", …) is what the server recorded.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.db import Base, utcnow
from server.models import Alert, Case, CaseAssignment, Contact, Household, MilestoneEvent, Person, SyncMutation, User
from tests.factories import Factory
from tests.sync_support import Clients, Phone, case_create_args, contact_args, milestone_args

EXAMPLES = int(os.environ.get("YORISOI_SYNC_EXAMPLES", "200"))
CLEARED = (
    "sync_visibility", "sync_mutation", "device", "case_conflict", "alert", "consent", "milestone_event",
    "contact", "case_assignment", "case_review", "case_record", "household_member", "care_relation",
    "household", "person",
)  # fmt: skip
OUTCOMES = ("NO_ANSWER", "MET_FAMILY_ONLY", "SPOKE_THROUGH_DOOR", "EMERGENCY_RESPONSE")


@dataclass
class World:
    """What lives across examples: users, their signed-in HTTP clients."""

    db: sessionmaker[Session]
    users: dict[str, User]
    https: dict[str, TestClient]


@dataclass
class Client:
    name: str
    user: str
    phone: Phone
    told: dict[int, str] = field(default_factory=dict)  # mid -> status the server answered
    delayed: list[list[dict[str, Any]]] = field(default_factory=list)  # batches in flight
    generated: dict[int, dict[str, Any]] = field(default_factory=dict)  # every mutation ever made


class SyncMachine(RuleBasedStateMachine):
    world: World

    def __init__(self) -> None:
        super().__init__()
        db = self.world.db
        with db() as s, s.begin():
            for table in reversed(Base.metadata.sorted_tables):
                if table.name in CLEARED:
                    s.execute(table.delete())
        self.cases: list[uuid.UUID] = []
        self.clients: list[Client] = []
        self.rng = random.Random(0)

    @initialize(seed=st.integers(0, 2**16))
    def setup(self, seed: int) -> None:
        self.rng = random.Random(seed)
        w1, w2 = self.world.users["w1"], self.world.users["w2"]
        with self.world.db() as s, s.begin():
            team_id = w1.team_id
            for workers in ((w1,), (w2,), (w1, w2)):
                person = Person(family_name="山田", given_name="太郎")
                household = Household(town="本町")
                s.add_all([person, household])
                s.flush()
                case = Case(person_id=person.id, household_id=household.id, team_id=team_id,
                            referral_source="minsei_iin", identified_on=dt.date(2025, 4, 1))  # fmt: skip
                s.add(case)
                s.flush()
                for i, w in enumerate(workers):
                    s.add(CaseAssignment(case_id=case.id, user_id=w.id, is_primary=i == 0))
                self.cases.append(case.id)
        self.clients = [
            Client("w1-phone", "w1", Phone(self.world.https["w1"])),
            Client("w1-tablet", "w1", Phone(self.world.https["w1"])),
            Client("w2-phone", "w2", Phone(self.world.https["w2"])),
            Client("c1-phone", "c1", Phone(self.world.https["c1"])),
        ]

    # --- the field: mutations made offline ---------------------------------------------------

    def _queue(self, c: Client, name: str, args: dict[str, Any]) -> None:
        m = c.phone.mutation(name, args)
        c.generated[m["mid"]] = m

    def _some_case(self, c: Client, pick: int) -> uuid.UUID:
        held = sorted(c.phone.ids("case"))
        if held and pick % 4:
            return uuid.UUID(held[pick % len(held)])
        return self.cases[pick % len(self.cases)]  # maybe not (or no longer) in scope

    @rule(who=st.integers(0, 3), pick=st.integers(0, 99), outcome=st.sampled_from(OUTCOMES), plan=st.booleans())
    def record_contact(self, who: int, pick: int, outcome: str, plan: bool) -> None:
        c = self.clients[who]
        extra: dict[str, Any] = {"next_action": f"予定{pick}", "next_action_due": "2025-06-01"} if plan else {}
        occurred = (utcnow() - dt.timedelta(minutes=pick)).isoformat()
        self._queue(c, "contact.create", contact_args(self._some_case(c, pick), outcome=outcome, occurred_at=occurred,
                                                      **extra))  # fmt: skip

    @rule(who=st.integers(0, 3), pick=st.integers(0, 99))
    def record_milestone(self, who: int, pick: int) -> None:
        c = self.clients[who]
        self._queue(c, "milestone.record", milestone_args(self._some_case(c, pick), "PERSON_AWARE"))

    @rule(who=st.integers(0, 3), pick=st.integers(0, 99), value=st.sampled_from(["訪問", "電話", "手紙"]))
    def edit_case(self, who: int, pick: int, value: str) -> None:
        c = self.clients[who]
        case_id = self._some_case(c, pick)
        held = c.phone.store.get(("case", str(case_id)))
        base = held["version"] if held else 1
        self._queue(c, "case.update", {"id": str(case_id), "base_version": base, "changes": {"next_action": value}})

    @rule(who=st.sampled_from([0, 2, 3]))
    def create_case(self, who: int) -> None:
        c = self.clients[who]
        args = case_create_args()
        self.cases.append(uuid.UUID(args["id"]))
        self._queue(c, "case.create", args)

    # --- the network -------------------------------------------------------------------------

    def _answered(self, c: Client, answer: dict[str, Any]) -> None:
        for r in answer["results"]:
            status = r["status"]
            if status == "duplicate" and "original" in r:
                status = r["original"]["status"]
            if status != "duplicate":
                assert c.told.setdefault(r["mid"], status) == status, (c.name, r)
        c.phone.outbox = [m for m in c.phone.outbox if m["mid"] > answer["last_mid"]]

    def _send(self, c: Client, batch: list[dict[str, Any]]) -> dict[str, Any]:
        r = c.phone.send(batch)
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        assert answer["last_mid"] >= max((m for m in c.told), default=0)
        return answer

    @rule(who=st.integers(0, 3), size=st.integers(1, 4), fate=st.sampled_from(["ok", "lost", "twice", "gap", "delay"]))
    def push(self, who: int, size: int, fate: str) -> None:
        c = self.clients[who]
        batch = list(c.phone.outbox[:size])
        if fate == "gap" and len(batch) > 1:
            batch.pop(self.rng.randrange(len(batch) - 1))  # a hole: the server stops before it
        if fate == "delay":
            c.delayed.append(batch)
            return
        answer = self._send(c, batch)
        if fate == "twice":
            answer = self._send(c, batch)
        if fate != "lost":
            self._answered(c, answer)

    @rule(who=st.integers(0, 3), lost=st.booleans())
    def deliver_delayed(self, who: int, lost: bool) -> None:
        c = self.clients[who]
        if c.delayed:
            answer = self._send(c, c.delayed.pop(0))  # arrives after newer pushes, maybe
            if not lost:
                self._answered(c, answer)

    @rule(who=st.integers(0, 3), limit=st.integers(1, 6), lost=st.booleans())
    def pull(self, who: int, limit: int, lost: bool) -> None:
        c = self.clients[who]
        r = c.phone.pull_raw(limit=limit)
        assert r.status_code == 200, r.text
        if not lost:
            c.phone.apply(r.json())

    # --- the office --------------------------------------------------------------------------

    @rule(pick=st.integers(0, 99), worker=st.sampled_from(["w1", "w2"]), on=st.booleans())
    def reassign(self, pick: int, worker: str, on: bool) -> None:
        case_id = self.cases[pick % len(self.cases)]
        user = self.world.users[worker]
        with self.world.db() as s, s.begin():
            if s.get(Case, case_id) is None:
                return  # created on a phone, not pushed yet
            active = s.scalar(select(CaseAssignment).where(
                CaseAssignment.case_id == case_id, CaseAssignment.user_id == user.id, CaseAssignment.ended_at.is_(None)
            ))  # fmt: skip
            if on and active is None:
                s.add(CaseAssignment(case_id=case_id, user_id=user.id))
            elif not on and active is not None:
                active.ended_at = utcnow()

    @rule(pick=st.integers(0, 99), status=st.sampled_from(["open", "closed"]))
    def set_status(self, pick: int, status: str) -> None:
        with self.world.db() as s, s.begin():
            case = s.get(Case, self.cases[pick % len(self.cases)])
            if case is not None and case.status != status:
                case.status = status
                case.version += 1
                case.field_versions = {**case.field_versions, "status": case.version}

    @rule(pick=st.integers(0, 99))
    def office_edit(self, pick: int) -> None:
        with self.world.db() as s, s.begin():
            case = s.get(Case, self.cases[pick % len(self.cases)])
            if case is not None:
                case.next_action = f"会議で決定{pick}"
                case.version += 1
                case.field_versions = {**case.field_versions, "next_action": case.version}

    @rule()
    def resolve_alerts(self) -> None:
        with self.world.db() as s, s.begin():
            s.execute(update(Alert).where(Alert.state != "resolved").values(state="resolved", resolved_at=utcnow()))

    # --- the quiet sync ----------------------------------------------------------------------

    def teardown(self) -> None:
        if not self.clients:
            return
        for c in self.clients:  # every phone empties its outbox (the delayed batches are long gone)
            for _ in range(50):
                if not c.phone.outbox:
                    break
                self._answered(c, self._send(c, c.phone.outbox[:7]))
            assert not c.phone.outbox, c.name
        for c in self.clients:
            c.phone.sync(limit=self.rng.choice([4, 1000]))
        with self.world.db() as s:
            self._check_exactly_once(s)
            for c in self.clients:
                self._check_scope(s, c)

    def _check_exactly_once(self, s: Session) -> None:
        applied_contacts = 0
        for c in self.clients:
            recorded = {
                m.mid: m for m in s.scalars(select(SyncMutation).where(SyncMutation.device_id == c.phone.client_id))
            }
            assert set(recorded) == set(c.generated), c.name  # every mid, once, none lost
            for mid, status in c.told.items():
                assert recorded[mid].status == status, (c.name, mid)
            for mid, m in c.generated.items():
                row = recorded[mid]
                if row.status == "rejected":
                    assert row.args == m["args"]  # kept for review
                    continue
                model = {"contact.create": Contact, "milestone.record": MilestoneEvent, "case.create": Case}.get(
                    m["name"]
                )
                if model is not None:
                    assert s.get(model, uuid.UUID(m["args"]["id"])) is not None, (c.name, mid)
                applied_contacts += m["name"] == "contact.create"
        assert applied_contacts == len(list(s.scalars(select(Contact.id))))

    def _check_scope(self, s: Session, c: Client) -> None:
        user = self.world.users[c.user]
        if user.role == "worker":
            wanted = set(s.scalars(
                select(Case.id).join(CaseAssignment, CaseAssignment.case_id == Case.id)
                .where(CaseAssignment.user_id == user.id, CaseAssignment.ended_at.is_(None), Case.status != "closed")
            ))  # fmt: skip
        else:
            wanted = set(s.scalars(select(Case.id).where(Case.team_id == user.team_id)))
        assert c.phone.ids("case") == {str(i) for i in wanted}, c.name
        for entity, model in (("contact", Contact), ("milestone", MilestoneEvent)):
            rows = s.scalars(select(model.id).where(model.case_id.in_(wanted)))
            assert c.phone.ids(entity) == {str(i) for i in rows}, (c.name, entity)
        live = s.scalars(select(Alert.id).where(Alert.case_id.in_(wanted), Alert.state != "resolved"))
        assert c.phone.ids("alert") == {str(i) for i in live}, c.name
        for case_id in wanted:
            held = c.phone.case(str(case_id))
            case = s.get_one(Case, case_id)
            assert (held["version"], held["status"], held["next_action"]) == (
                case.version,
                case.status,
                case.next_action,
            )
        fresh = Phone(c.phone.http)
        fresh.sync()
        assert fresh.store == c.phone.store, c.name  # incremental == from scratch


@pytest.mark.slow
def test_sync_converges_under_an_unreliable_network(
    factory: Factory, app: Any, db_factory: sessionmaker[Session]
) -> None:
    users = {
        "w1": factory.user("w1"),
        "w2": factory.user("w2"),
        "c1": factory.user("c1", role="coordinator"),
    }
    made = Clients(app)
    try:
        https = {name: made.signed_in(name) for name in users}
        SyncMachine.world = World(db=db_factory, users=users, https=https)
        run_state_machine_as_test(
            SyncMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=10,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        made.close()
