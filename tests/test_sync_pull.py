"""Sync pull: scoped by role, removes when a case leaves a scope, everything when one enters,
commit-ordered cursors, paging, resets and what each case carries (sync/PROTOCOL.md)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from server.db import utcnow
from server.models import Alert, AuditEvent, Case, CaseAssignment, Contact, Device, Person, User
from server.models.sync_stamp import take_seq
from sync.cursor import Cursor, rotate_epoch
from tests.conftest import PG_URL
from tests.factories import Factory
from tests.sync_support import Clients, Phone, contact_args, milestone_args


def entities(changes: list[dict[str, Any]], entity: str, op: str = "put") -> set[str]:
    return {c["id"] for c in changes if c["entity"] == entity and c["op"] == op}


def end_assignment(db_factory: sessionmaker[Session], case: Case, user: User) -> None:
    with db_factory() as s, s.begin():
        s.execute(
            update(CaseAssignment)
            .where(CaseAssignment.case_id == case.id, CaseAssignment.user_id == user.id)
            .values(ended_at=utcnow())
        )


def assign(db_factory: sessionmaker[Session], case: Case, user: User) -> None:
    with db_factory() as s, s.begin():
        s.add(CaseAssignment(case_id=case.id, user_id=user.id, is_primary=False))


# --- scope --------------------------------------------------------------------------------------


def test_worker_gets_exactly_their_active_cases_with_everything_in_them(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w1, w2 = factory.user("w1", display_name="鈴木"), factory.user("w2", display_name="高橋")
    mine = factory.case(workers=(w1,))
    closed = factory.case(workers=(w1,), status="closed")
    theirs = factory.case(workers=(w2,))
    contact = factory.contact(
        mine, w1, outcome="MET_FAMILY_ONLY", occurred_at=dt.datetime(2025, 5, 2, 1, tzinfo=dt.UTC)
    )
    factory.contact(theirs, w2)
    with db_factory() as s, s.begin():
        s.add(Alert(case_id=mine.id, team_id=mine.team_id, rule="S2", level="caution"))
        s.add(Alert(case_id=mine.id, team_id=mine.team_id, rule="S1", level="caution", state="resolved"))
    phone = clients.phone("w1")
    r = phone.pull_raw()
    assert r.headers["cache-control"] == "no-store"
    answer = r.json()
    phone.apply(answer)
    assert answer["reset"] is True and answer["has_more"] is False and answer["last_mid"] == 0
    assert entities(answer["changes"], "case") == {str(mine.id)}
    assert entities(answer["changes"], "contact") == {str(contact.id)}
    assert len(entities(answer["changes"], "alert")) == 1  # the open one only
    assert str(closed.id) not in phone.ids("case")  # closed cases stay off the phone
    data = phone.case(mine)
    assert data["version"] == 1 and data["status"] == "open"
    assert data["last_reached_at"] == "2025-05-02T01:00:00+00:00"
    assert data["person"]["family_name"] == "山田" and data["household"]["town"] == "本町"
    assert data["assigned"][0]["user_id"] == str(w1.id)
    ref = phone.store[("reference", "reference")]
    names = {m["id"]: m["display_name"] for m in ref["members"]}
    assert names[str(w1.id)] == "鈴木" and names[str(w2.id)] == "高橋"
    outcome = {o["id"]: o for o in ref["vocab"]["outcome"]}["MET_FAMILY_ONLY"]
    assert (
        outcome["labels"] == {"ja": "家族のみと面談", "en": outcome["labels"]["en"]} and outcome["reached"] == "family"
    )
    assert [m["id"] for m in ref["milestones"]][:2] == ["IDENTIFIED", "FAMILY_FIRST_CONTACT"]
    with db_factory() as s:
        device = s.get_one(Device, phone.client_id)
        assert device.user_id == w1.id and device.last_pull_at is not None
        logged = s.scalars(select(AuditEvent).where(AuditEvent.action == "sync.pull")).one()
        assert logged.case_id == mine.id and logged.device_id == phone.client_id


def test_up_to_date_pull_is_empty_and_tiny(factory: Factory, clients: Clients) -> None:
    w, w2 = factory.user("w1"), factory.user("w2")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    phone.sync()
    factory.case(workers=(w2,))  # a change outside the scope
    for _ in range(2):
        r = phone.pull_raw(outbox_depth=3)
        answer = r.json()
        assert answer["changes"] == [] and answer["reset"] is False and answer["has_more"] is False
        assert len(r.content) <= 1024
        phone.apply(answer)
    phone.do("contact.create", contact_args(case.id, outcome="MET_PERSON"))
    answer = phone.pull()
    assert {c["entity"] for c in answer["changes"]} == {"case", "contact"}  # the case: its last reach moved


def test_coordinator_gets_the_team_and_supervisor_the_municipality(factory: Factory, clients: Clients) -> None:
    w = factory.user("w1", team="北部班")
    factory.user("c1", role="coordinator", team="北部班")
    factory.user("s1", role="supervisor", team="南部班")
    north = factory.case(team="北部班", workers=(w,))
    unassigned = factory.case(team="北部班")
    south = factory.case(team="南部班")
    closed = factory.case(team="北部班", status="closed")
    elsewhere = factory.case(team="隣町班")
    factory.team("隣町班", municipality="隣町")
    coordinator, supervisor = clients.phone("c1"), clients.phone("s1")
    coordinator.sync()
    supervisor.sync()
    assert coordinator.ids("case") == {str(north.id), str(unassigned.id), str(closed.id)}
    assert {str(north.id), str(unassigned.id), str(south.id), str(closed.id)} <= supervisor.ids("case")
    assert str(elsewhere.id) not in coordinator.ids("case")


def test_unassignment_removes_and_assignment_brings_everything(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w1, w2 = factory.user("w1"), factory.user("w2")
    case = factory.case(workers=(w1,))
    other = factory.case(workers=(w2,))
    old_contacts = {str(factory.contact(other, w2, id=uuid.uuid4()).id) for _ in range(3)}
    factory.contact(case, w1)
    phone = clients.phone("w1")
    phone.sync()
    assert phone.ids("case") == {str(case.id)} and len(phone.ids("contact")) == 1
    end_assignment(db_factory, case, w1)
    assign(db_factory, other, w1)
    answer = phone.pull()
    assert [c for c in answer["changes"] if c["op"] == "remove"] == [
        {"entity": "case", "id": str(case.id), "op": "remove"}
    ]
    assert entities(answer["changes"], "case") == {str(other.id)}
    assert entities(answer["changes"], "contact") == old_contacts  # all of it, however old
    assert phone.ids("case") == {str(other.id)} and phone.ids("contact") == old_contacts
    # and the worker who lost the case can no longer write to it (except what happened before)
    assert (
        phone.do("case.update", {"id": str(case.id), "base_version": 1, "changes": {"next_action": "x"}})["status"]
        == "rejected"
    )


def test_closing_a_case_removes_it_from_the_workers_phone_only(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w,))
    worker, coordinator = clients.phone("w1"), clients.phone("c1")
    worker.sync()
    coordinator.sync()
    assert (
        coordinator.do(
            "case.update",
            {"id": str(case.id), "base_version": 1, "changes": {"status": "closed", "closed_reason": "moved"}},
        )["status"]
        == "applied"
    )
    worker.sync()
    coordinator.sync()
    assert worker.ids("case") == set()
    assert coordinator.case(case)["status"] == "closed"


def test_derived_stage_and_next_action_arrive_with_the_case(factory: Factory, clients: Clients) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    phone.do("milestone.record", milestone_args(case.id, "FAMILY_FIRST_CONTACT", reached_on="2025-05-01"))
    phone.do("milestone.record", milestone_args(case.id, "FIRST_VOICE_CONTACT", reached_on="2025-05-03"))
    args = contact_args(
        case.id, outcome="SPOKE_THROUGH_DOOR", occurred_at="2025-05-03T10:00:00+09:00", next_action="手紙を届ける",
        next_action_due="2025-05-10",
    )  # fmt: skip
    phone.do("contact.create", args)
    phone.sync()
    data = phone.case(case)
    assert data["stage"] == "FIRST_VOICE_CONTACT"
    assert data["last_reached_at"] == "2025-05-03T01:00:00+00:00"
    assert (data["next_action"], data["next_action_due"], data["version"]) == ("手紙を届ける", "2025-05-10", 2)
    assert len(phone.ids("milestone")) == 2


def test_a_person_edited_at_the_office_reaches_the_phone(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    phone.sync()
    with db_factory() as s, s.begin():  # an office page changes the person, not the case row
        s.get_one(Person, case.person_id).preferred_name = "たろちゃん"
    answer = phone.pull()
    assert entities(answer["changes"], "case") == {str(case.id)}
    assert phone.case(case)["person"]["preferred_name"] == "たろちゃん"


def test_resolved_alert_is_removed(factory: Factory, clients: Clients, db_factory: sessionmaker[Session]) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    with db_factory() as s, s.begin():
        alert = Alert(case_id=case.id, team_id=case.team_id, rule="S2", level="caution")
        s.add(alert)
    phone = clients.phone("w1")
    phone.sync()
    assert phone.ids("alert") == {str(alert.id)}
    with db_factory() as s, s.begin():
        s.get_one(Alert, alert.id).state = "resolved"
    answer = phone.pull()
    assert answer["changes"] == [{"entity": "alert", "id": str(alert.id), "op": "remove", "case_id": str(case.id)}]


def test_re_entry_between_pulls_removes_what_was_resolved_meanwhile(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    """A case leaves and re-enters a worker's scope while one of their phones is offline (their
    other phone pulls in between): the offline phone must not keep an alert resolved meanwhile."""
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    with db_factory() as s, s.begin():
        alert = Alert(case_id=case.id, team_id=case.team_id, rule="S2", level="caution")
        s.add(alert)
    http = clients.signed_in("w1")
    offline, other = Phone(http), Phone(http)
    offline.sync()
    other.sync()
    end_assignment(db_factory, case, w)
    other.sync()  # records the case leaving
    with db_factory() as s, s.begin():
        s.get_one(Alert, alert.id).state = "resolved"
    assign(db_factory, case, w)
    other.sync()  # records it entering again
    offline.sync(limit=1)
    assert offline.ids("alert") == set() and offline.ids("case") == {str(case.id)}
    assert offline.store == other.store


# --- cursors --------------------------------------------------------------------------------


def test_paging_returns_every_change_exactly_once(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    cases = [factory.case(workers=(w,)) for _ in range(3)]
    for c in cases:
        for _ in range(4):
            factory.contact(c, w, id=uuid.uuid4())
    later = factory.case(workers=(factory.user("w2"),))
    for _ in range(3):
        factory.contact(later, w, id=uuid.uuid4())
    http = clients.signed_in("w1")

    def paged(cursor: str, limit: int) -> list[dict[str, Any]]:
        phone = Phone(http)
        phone.cursor = cursor
        return phone.sync(limit=limit)

    whole = paged("", 1000)
    assert len(whole) == 1 + 3 + 12  # the reference, the cases, their contacts
    for limit in (1, 2, 5, 16):
        assert paged("", limit) == whole
    # and from a cursor in the middle of history: edits, a case leaving, one entering
    base = Phone(http)
    base.sync()
    writer = clients.phone("w1")
    for c in cases[:2]:
        writer.do("contact.create", contact_args(c.id))
    end_assignment(db_factory, cases[2], w)
    assign(db_factory, later, w)
    increment = paged(base.cursor, 1000)
    keys = [(c["entity"], c["id"], c["op"]) for c in increment]
    assert len(keys) == len(set(keys))  # each entity at most once
    assert ("case", str(cases[2].id), "remove") in keys and ("case", str(later.id), "put") in keys
    for limit in (1, 3, 7):
        assert paged(base.cursor, limit) == increment


def _case_runs(changes: list[dict[str, Any]]) -> list[str]:
    """The case of each change in order (a case, or an entity of one), consecutive repeats folded."""
    runs: list[str] = []
    for c in changes:
        case_id = c["id"] if c["entity"] == "case" else (c.get("data") or {}).get("case_id") or c.get("case_id")
        if case_id and (not runs or runs[-1] != case_id):
            runs.append(case_id)
    return runs


def test_a_first_sync_sends_each_case_whole_once_however_its_visits_were_numbered(
    factory: Factory, clients: Clients
) -> None:
    # The cases entered the worker's scope when assigned (the first pull recorded it), and their
    # visits were recorded afterwards, one case after another in turn: numbered interleaved, each
    # case numbered again with each visit (each reached the person: its last reach moved).
    w = factory.user("w1")
    cases = [factory.case(workers=(w,)) for _ in range(3)]
    writer = clients.phone("w1")
    writer.sync()
    for _ in range(3):
        for c in cases:
            writer.do("contact.create", contact_args(c.id, outcome="MET_PERSON"))
    writer.do("milestone.record", milestone_args(cases[0].id))
    http = clients.signed_in("w1")
    whole: list[dict[str, Any]] | None = None
    for limit in (1, 2, 3, 5, 1000):
        phone = Phone(http)
        changes = phone.sync(limit=limit)
        # each case and its history in one run, not spread over the chain (the phone seals a
        # case's history once)
        assert sorted(_case_runs(changes)) == sorted(str(c.id) for c in cases), limit
        assert len(entities(changes, "contact")) == 9 and len(entities(changes, "milestone")) == 1
        whole = whole or changes
        assert changes == whole, limit
    # the next pull from where the first sync ended holds nothing, then only what is new
    assert phone.pull()["changes"] == []
    writer.do("contact.create", contact_args(cases[1].id, outcome="MET_PERSON"))
    assert [c["entity"] for c in phone.pull()["changes"]] == ["case", "contact"]
    writer.do("contact.create", contact_args(cases[1].id))  # reached nobody: the case is as it was
    assert [c["entity"] for c in phone.pull()["changes"]] == ["contact"]


def test_a_first_sync_follows_scope_and_records_changed_between_its_pages(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    cases = [factory.case(workers=(w,)) for _ in range(4)]
    other = factory.case(workers=(factory.user("w2"),))
    writer = clients.phone("w1")
    writer.sync()
    for c in cases:
        writer.do("contact.create", contact_args(c.id))
    phone = clients.phone("w1")
    first = phone.pull(limit=3)
    assert first["reset"] is True and first["has_more"] is True
    sent = _case_runs(first["changes"])
    # between the pages: a visit to a case already sent, a case leaving, another entering
    writer.do("contact.create", contact_args(sent[0]))
    end_assignment(db_factory, next(c for c in cases if str(c.id) == sent[-1]), w)
    assign(db_factory, other, w)
    for _ in range(100):
        if not phone.pull(limit=3)["has_more"]:
            break
    fresh = Phone(clients.signed_in("w1"))
    fresh.sync()
    assert phone.store == fresh.store
    assert phone.ids("case") == {str(c.id) for c in cases if str(c.id) != sent[-1]} | {str(other.id)}
    assert len(phone.ids("contact")) == 3 + 1


def test_lost_answer_is_simply_pulled_again(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    other = factory.case(workers=(factory.user("w2"),))
    phone = clients.phone("w1")
    phone.sync()
    end_assignment(db_factory, case, w)
    assign(db_factory, other, w)
    lost = phone.pull_raw().json()  # the server answered; the phone never got it
    retried = phone.pull()
    assert retried["changes"] == lost["changes"]
    assert phone.ids("case") == {str(other.id)}


def test_stale_or_foreign_cursors_answer_a_reset(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    phone.sync()
    good = Cursor.decode(phone.cursor)
    assert good is not None
    future = Cursor(good.epoch, (good.position[0] + 1000, *good.position[1:]), good.floor, good.ref).encode()
    for cursor in ("garbage", "1.zz.1.1.-", future):
        answer = phone.pull_raw(cursor=cursor).json()
        assert answer["reset"] is True and entities(answer["changes"], "case") == {str(case.id)}
    with db_factory() as s, s.begin():  # a restore from backup
        rotate_epoch(s)
    answer = phone.pull()
    assert answer["reset"] is True and answer["epoch"] != str(good.epoch)
    assert phone.ids("case") == {str(case.id)}
    push = phone.send([]).json()
    assert push["epoch"] == answer["epoch"] and push["last_mid"] == 0


def test_reference_is_sent_on_reset_and_when_it_changes(factory: Factory, clients: Clients) -> None:
    factory.user("w1")
    phone = clients.phone("w1")
    assert entities(phone.pull()["changes"], "reference") == {"reference"}
    assert phone.pull()["changes"] == []
    factory.user("w9", display_name="新人")
    answer = phone.pull()
    assert entities(answer["changes"], "reference") == {"reference"}
    assert "新人" in json.dumps(answer, ensure_ascii=False)


def test_pull_reports_last_mid_and_the_outbox(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    phone.do("contact.create", contact_args(case.id))
    assert phone.pull(outbox_depth=4)["last_mid"] == 1
    with db_factory() as s:
        assert s.get_one(Device, phone.client_id).outbox_depth == 4
    r = phone.pull_raw(limit=0)
    assert r.status_code == 400 and r.json()["error"] == {
        **r.json()["error"],
        "code": "invalid_envelope",
        "field": "limit",
    }


@pytest.mark.skipif(not PG_URL, reason="two truly concurrent transactions need PostgreSQL (SQLite has one writer)")
def test_a_late_commit_is_never_skipped(factory: Factory, clients: Clients, db_factory: sessionmaker[Session]) -> None:
    """A takes its change number, then stalls before COMMIT; B commits meanwhile (it must wait for
    A's number to be committed first); a pull in between must neither see A nor move past it."""
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    phone.sync()
    a_numbered, release_a, b_done = threading.Event(), threading.Event(), threading.Event()
    late, early = uuid.uuid4(), uuid.uuid4()

    def contact(s: Session, contact_id: uuid.UUID) -> None:
        s.add(Contact(id=contact_id, case_id=case.id, occurred_at=utcnow(), method="PHONE", counterpart="NONE",
                      outcome="PHONE_NO_ANSWER", reached="none", recorded_by=w.id))  # fmt: skip
        s.flush()

    def transaction_a() -> None:
        with db_factory() as s, s.begin():
            contact(s, late)
            # what the commit-time stamping does, then stall: lock the rows, take the number
            s.execute(select(Case.id).where(Case.id == case.id).with_for_update(key_share=True))
            take_seq(s)
            a_numbered.set()
            release_a.wait(30)

    def transaction_b() -> None:
        with db_factory() as s, s.begin():
            contact(s, early)
        b_done.set()

    ta = threading.Thread(target=transaction_a)
    ta.start()
    assert a_numbered.wait(30)
    tb = threading.Thread(target=transaction_b)
    tb.start()
    assert not b_done.wait(1.0)  # B cannot commit before A: its number must come after A's
    during = phone.pull()
    assert during["changes"] == []
    release_a.set()
    ta.join(30)
    tb.join(30)
    after = phone.pull()
    assert entities(after["changes"], "contact") == {str(late), str(early)}
    with db_factory() as s:
        seqs = {c.id: c.sync_seq for c in s.scalars(select(Contact))}
    assert seqs[late] < seqs[early]  # numbered in commit order
