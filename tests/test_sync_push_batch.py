"""A push applies its batch in one SAVEPOINT when every mutation succeeds, and one SAVEPOINT per
mutation when one fails (sync/push.py `_optimistic`). Either way the answers, the rows, the review
records and the audit are the ones of applying the mutations one by one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.db import utcnow
from server.models import AuditEvent, Case, CaseAssignment, Contact, MilestoneEvent, SyncCounter, SyncMutation
from server.services import audit
from sync import batch as batch_module
from sync import push as push_module
from tests.factories import Factory
from tests.sync_support import Clients, case_create_args, contact_args, milestone_args


def statuses(answer: dict[str, Any]) -> list[tuple[int, str]]:
    return [(r["mid"], r["status"]) for r in answer["results"]]


def audited(db_factory: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with db_factory() as s:
        rows = s.execute(
            select(AuditEvent.action, AuditEvent.entity_id)
            .where(AuditEvent.action.in_(["contact.create", "contact.amend", "milestone.record", "case.create",
                                          "case.update", "sync.reject"]))
            .order_by(AuditEvent.seq)
        )  # fmt: skip
        return [(a, e) for a, e in rows]


def test_a_batch_that_all_succeeds_is_applied_with_everything_recorded(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w, w2 = factory.user("w1"), factory.user("w2")
    a, b = factory.case(workers=(w,)), factory.case(workers=(w,))
    phone = clients.phone("w1")
    first = contact_args(a.id, visitor_ids=[str(w2.id)])
    new_case = case_create_args()
    batch = [
        phone.mutation("contact.create", first),
        phone.mutation("milestone.record", milestone_args(b.id)),
        phone.mutation("contact.amend", contact_args(a.id, amends_id=first["id"], outcome="MET_PERSON",
                                                     counterpart="PERSON")),  # amends one made in this batch
        phone.mutation("case.create", new_case),
        phone.mutation("contact.create", contact_args(new_case["id"])),  # on the case just made
        phone.mutation("case.update", {"id": str(b.id), "base_version": 1, "changes": {"next_action": "電話"}}),
        phone.mutation("contact.create", contact_args(b.id, next_action="再訪問", next_action_due="2025-05-08")),
    ]  # fmt: skip
    answer = phone.push(*batch, outbox_depth=0)
    assert statuses(answer) == [(m["mid"], "applied") for m in batch] and answer["last_mid"] == 7
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 4
        assert s.scalar(select(func.count()).select_from(MilestoneEvent)) == 1
        assert [r.status for r in s.scalars(select(SyncMutation).order_by(SyncMutation.mid))] == ["applied"] * 7
        made = s.get_one(Case, uuid.UUID(new_case["id"]))
        assert s.scalars(select(CaseAssignment.user_id).where(CaseAssignment.case_id == made.id)).one() == w.id
        case_b = s.get_one(Case, b.id)
        assert case_b.next_action == "再訪問" and case_b.version == 3  # the update, then the contact's plan
        assert s.get_one(Contact, uuid.UUID(first["id"])).visitor_ids == [str(w2.id)]
        assert list(audit.verify(s)) == []
    assert [action for action, _ in audited(db_factory)] == [
        "contact.create", "milestone.record", "contact.amend", "case.create", "contact.create", "case.update",
        "contact.create",
    ]  # fmt: skip
    again = phone.send(batch).json()  # the answer was lost: the same batch again
    assert statuses(again) == [(m["mid"], "duplicate") for m in batch]


def test_one_rejected_mutation_leaves_no_trace_and_the_others_apply(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    mine, other = factory.case(workers=(w,)), factory.case()
    phone = clients.phone("w1")
    twice = contact_args(mine.id)
    batch = [
        phone.mutation("contact.create", twice),
        phone.mutation("case.create", case_create_args()),
        phone.mutation("contact.create", contact_args(other.id)),  # not theirs
        phone.mutation("contact.create", {**contact_args(mine.id), "id": twice["id"]}),  # an id taken in this batch
        phone.mutation("contact.create", contact_args(mine.id, outcome="NOT_AN_OUTCOME")),
        phone.mutation("milestone.record", milestone_args(mine.id)),
    ]
    answer = phone.push(*batch)
    assert statuses(answer) == [(1, "applied"), (2, "applied"), (3, "rejected"), (4, "rejected"), (5, "rejected"),
                                (6, "applied")]  # fmt: skip
    codes = [r["error"]["code"] for r in answer["results"] if r["status"] == "rejected"]
    assert codes == ["out_of_scope", "id_exists", "value_not_allowed"]
    with db_factory() as s:
        assert s.scalars(select(Contact.case_id)).all() == [mine.id]
        assert s.scalar(select(func.count()).select_from(Case)) == 3
        rows = {r.mid: r for r in s.scalars(select(SyncMutation))}
        assert [rows[mid].status for mid in range(1, 7)] == ["applied"] * 2 + ["rejected"] * 3 + ["applied"]
        assert rows[3].args == batch[2]["args"]  # kept for review
        assert list(audit.verify(s)) == []
    assert [action for action, _ in audited(db_factory)] == [
        "contact.create", "case.create", "sync.reject", "sync.reject", "sync.reject", "milestone.record",
    ]  # fmt: skip


def test_a_gap_and_resent_mutations_in_one_batch(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    sent = [phone.mutation("contact.create", contact_args(case.id)) for _ in range(2)]
    phone.push(*sent)
    fresh = [phone.mutation("contact.create", contact_args(case.id)) for _ in range(2)]
    lost = phone.mutation("contact.create", contact_args(case.id))  # mid 5 never arrives
    late = phone.mutation("contact.create", contact_args(case.id))
    answer = phone.send([*sent, *fresh, late]).json()
    assert statuses(answer) == [(1, "duplicate"), (2, "duplicate"), (3, "applied"), (4, "applied")]
    assert answer["last_mid"] == 4 and lost["mid"] == 5
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 4


def test_a_worker_unassigned_since_still_delivers_a_batch_recorded_on_duty(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    with db_factory() as s, s.begin():
        s.scalars(select(CaseAssignment).where(CaseAssignment.case_id == case.id)).one().ended_at = utcnow()
    phone = clients.phone("w1")
    batch = [phone.mutation("contact.create", contact_args(case.id)) for _ in range(3)]
    assert statuses(phone.push(*batch)) == [(1, "applied"), (2, "applied"), (3, "applied")]


def test_a_batch_of_contacts_is_inserted_with_the_transaction_number(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    """Every contact of a batch and its case carry the number the transaction took: a large batch
    that touches only cases it locked from their insert (no UPDATE after), a small one or one that
    also creates a case at commit. (Each visit met the person, so each case is numbered again.)"""
    w = factory.user("w1")
    a, b = factory.case(workers=(w,)), factory.case(workers=(w,))
    phone = clients.phone("w1")
    large = push_module.NUMBER_FIRST_FROM  # numbered from the insert

    def met(case_id: Any) -> dict[str, Any]:
        return phone.mutation("contact.create", contact_args(case_id, outcome="MET_PERSON"))

    for batch in (
        [met(case.id) for case in (a, b, a)],
        [met((a, b)[n % 2].id) for n in range(large)],
        [phone.mutation("case.create", new := case_create_args()), met(a.id), met(new["id"])],
    ):
        assert {r["status"] for r in phone.push(*batch)["results"]} == {"applied"}
        with db_factory() as s:
            seq = s.get_one(SyncCounter, 1).seq
            made = [uuid.UUID(m["args"]["id"]) for m in batch if m["name"] == "contact.create"]
            contacts = s.scalars(select(Contact).where(Contact.id.in_(made))).all()
            assert len(contacts) == len(made) and {c.sync_seq for c in contacts} == {seq}
            cases = s.scalars(select(Case).where(Case.id.in_({c.case_id for c in contacts})))
            assert {c.sync_seq for c in cases} == {seq}
            assert list(audit.verify(s)) == []
    assert [action for action, _ in audited(db_factory)].count("contact.create") == 5 + large  # one audit row each


def _taken_meanwhile(monkeypatch: pytest.MonkeyPatch, taken_id: str) -> None:
    """The batch's check does not see `taken_id`, as if it were committed just after the check."""

    def unseen(session: Session, actor: Any, batch: list[Any]) -> batch_module.Prefetched:
        found = batch_module.prefetch(session, actor, batch)
        for taken in found.taken.values():
            taken.discard(uuid.UUID(taken_id))
        return found

    monkeypatch.setattr(push_module, "prefetch", unseen)


def test_an_id_taken_after_a_large_batch_checked_it_asks_for_a_retry_and_keeps_nothing(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another transaction may insert a contact id between a large batch's check and its numbered
    insert (on PostgreSQL): the push answers 503 with nothing kept, and the retry rejects that
    mutation alone."""
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    first = contact_args(case.id)
    phone.push(phone.mutation("contact.create", first))
    size = push_module.NUMBER_FIRST_FROM
    batch = [phone.mutation("contact.create", contact_args(case.id)) for _ in range(size - 1)]
    batch.append(phone.mutation("contact.create", {**contact_args(case.id), "id": first["id"]}))
    _taken_meanwhile(monkeypatch, first["id"])
    r = phone.send(batch)
    assert r.status_code == 503 and r.json()["error"]["code"] == "server_busy" and "Retry-After" in r.headers
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 1
        assert s.scalar(select(func.count()).select_from(SyncMutation)) == 1
    monkeypatch.undo()
    answer = phone.push(*batch)
    assert statuses(answer) == [(m, "applied") for m in range(2, size + 1)] + [(size + 1, "rejected")]
    assert answer["results"][-1]["error"]["code"] == "id_exists"


def test_an_id_taken_after_a_small_batch_checked_it_rejects_that_mutation_alone(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small batch inserts its contacts before taking its change number: an id taken meanwhile
    fails that insert inside the batch's savepoint, and the batch is applied one mutation at a time
    (the careful path), which finds the id taken: that mutation is rejected, the other applied."""
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    first = contact_args(case.id)
    phone.push(phone.mutation("contact.create", first))
    batch = [
        phone.mutation("contact.create", contact_args(case.id)),
        phone.mutation("contact.create", {**contact_args(case.id), "id": first["id"]}),
    ]
    _taken_meanwhile(monkeypatch, first["id"])
    answer = phone.push(*batch)
    assert statuses(answer) == [(2, "applied"), (3, "rejected")]
    assert answer["results"][1]["error"]["code"] == "id_exists"
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 2
        seq = s.get_one(SyncCounter, 1).seq
        assert s.get_one(Contact, uuid.UUID(batch[0]["args"]["id"])).sync_seq == seq


def test_a_batch_whose_only_fault_is_a_case_out_of_scope_applies_the_rest_and_rejects_that_one(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    """The optimistic path reads each case's scope with its lock (sync.batch): a case not the
    worker's must be rejected there too, not only when another fault sends the batch down the
    careful path."""
    w = factory.user("w1")
    mine, other = factory.case(workers=(w,)), factory.case(workers=(factory.user("w2"),))
    phone = clients.phone("w1")
    answer = phone.push(
        phone.mutation("contact.create", contact_args(mine.id)),
        phone.mutation("contact.create", contact_args(other.id)),
        phone.mutation("contact.create", contact_args(mine.id)),
    )
    assert statuses(answer) == [(1, "applied"), (2, "rejected"), (3, "applied")]
    assert answer["results"][1]["error"]["code"] == "out_of_scope"
    with db_factory() as s:
        assert s.scalars(select(Contact.case_id)).all() == [mine.id, mine.id]
