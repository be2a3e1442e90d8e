"""Sync push: exactly-once application, gaps, rejections kept for review, limits, device ownership
and revocation, re-authorisation, field-level merge (sync/PROTOCOL.md)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from server.models import (
    Alert,
    AuditEvent,
    Case,
    CaseAssignment,
    CaseConflict,
    Consent,
    Contact,
    Device,
    MilestoneEvent,
    Person,
    SyncMutation,
)
from sync import push as sync_push
from tests.factories import Factory
from tests.sync_support import Clients, case_create_args, contact_args, milestone_args


def count(db_factory: sessionmaker[Session], model: Any, *where: Any) -> int:
    with db_factory() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# --- exactly once ------------------------------------------------------------------------------


def test_contact_applied_once_and_resend_is_duplicate(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    m = phone.mutation("contact.create", contact_args(case.id, notes="ドア越しに挨拶"))
    first = phone.send([m], outbox_depth=1).json()
    assert first["last_mid"] == 1
    assert first["results"] == [{"mid": 1, "status": "applied"}]
    assert uuid.UUID(first["epoch"])
    for _ in range(3):  # the answer was lost; the phone sends again
        again = phone.send([m]).json()
        assert again["last_mid"] == 1
        assert again["results"] == [{"mid": 1, "status": "duplicate", "original": {"status": "applied"}}]
    assert count(db_factory, Contact) == 1
    with db_factory() as s:
        device = s.get_one(Device, phone.client_id)
        assert device.user_id == w.id and device.last_mid == 1 and device.outbox_depth == 1
        assert device.last_push_at is not None and device.last_sync_at is not None
        row = s.get_one(SyncMutation, (phone.client_id, 1))
        assert row.status == "applied" and row.args is None and row.case_id == case.id
        contact = s.scalars(select(Contact)).one()
        assert contact.reached == "none" and contact.device_id == phone.client_id and contact.recorded_by == w.id
        logged = s.scalars(select(AuditEvent).where(AuditEvent.action == "contact.create")).one()
        assert logged.device_id == phone.client_id and logged.case_id == case.id
        assert "notes" in logged.fields and "ドア越し" not in logged.detail  # names, never values


def test_gap_stops_the_batch(factory: Factory, clients: Clients, db_factory: sessionmaker[Session]) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    ms = [phone.mutation("contact.create", contact_args(case.id)) for _ in range(4)]
    answer = phone.send([ms[0], ms[1], ms[3]]).json()
    assert answer["last_mid"] == 2
    assert [r["mid"] for r in answer["results"]] == [1, 2]
    assert count(db_factory, Contact) == 2
    answer = phone.send([ms[3]]).json()  # still a gap: nothing
    assert answer == {**answer, "last_mid": 2, "results": []}
    answer = phone.send(ms[2:]).json()
    assert [(r["mid"], r["status"]) for r in answer["results"]] == [(3, "applied"), (4, "applied")]
    assert count(db_factory, Contact) == 4


def test_rejected_advances_and_is_kept_for_review(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    bad = phone.mutation("contact.create", contact_args(case.id, outcome="NOT_A_THING", notes="メモ"))
    good = phone.mutation("contact.create", contact_args(case.id))
    answer = phone.send([bad, good]).json()
    assert answer["last_mid"] == 2
    rejected, applied = answer["results"]
    assert rejected["status"] == "rejected"
    assert rejected["error"]["code"] == "value_not_allowed" and rejected["error"]["field"] == "outcome"
    assert rejected["error"]["message"]
    assert applied["status"] == "applied"
    with db_factory() as s:
        kept = s.get_one(SyncMutation, (phone.client_id, 1))
        assert kept.status == "rejected" and kept.error_code == "value_not_allowed"
        assert kept.args == bad["args"] and kept.case_id == case.id
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "sync.reject")) == 1
        # the applied mutation after the rejected one is audited too
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "contact.create")) == 1
    again = phone.send([bad]).json()["results"][0]
    assert again["status"] == "duplicate" and again["original"]["status"] == "rejected"
    assert again["original"]["error"]["code"] == "value_not_allowed"
    assert count(db_factory, Contact) == 1


@pytest.mark.parametrize(
    ("args", "code", "field"),
    [
        ({"id": None}, "field_required", "id"),
        ({"id": "not-a-uuid"}, "field_invalid", "id"),
        ({"occurred_at": "2025-05-01T10:00:00"}, "field_invalid", "occurred_at"),  # no offset
        ({"occurred_at": "2999-01-01T00:00:00+09:00"}, "field_invalid", "occurred_at"),
        ({"method": "TELEPATHY"}, "value_not_allowed", "method"),
        ({"reception": "ANGRY"}, "value_not_allowed", "reception"),
        ({"risk_flags": ["dog", "dragon"]}, "value_not_allowed", "risk_flags"),
        ({"duration_min": -5}, "field_invalid", "duration_min"),
        ({"notes": "あ" * 20_001}, "field_too_long", "notes"),
        ({"next_action_due": "2025-13-01"}, "field_invalid", "next_action_due"),
        ({"sharing_basis": "GOSSIP"}, "value_not_allowed", "sharing_basis"),
        ({"visitor_ids": [str(uuid.uuid4())]}, "value_not_allowed", "visitor_ids"),
        ({"colour": "blue"}, "field_unknown", "colour"),
    ],
)
def test_each_argument_is_validated_with_a_code_naming_the_field(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session], args: dict[str, Any], code: str, field: str
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    full = contact_args(case.id)
    full.update(args)
    full = {k: v for k, v in full.items() if not (k == "id" and v is None)}
    result = phone.do("contact.create", full)
    assert result["status"] == "rejected"
    assert (result["error"]["code"], result["error"]["field"]) == (code, field)
    assert count(db_factory, Contact) == 0


def test_unknown_mutation_is_rejected(factory: Factory, clients: Clients) -> None:
    factory.user("w1")
    result = clients.phone("w1").do("case.delete", {"id": str(uuid.uuid4())})
    assert result["status"] == "rejected" and result["error"]["code"] == "unknown_mutation"


# --- envelope and limits -----------------------------------------------------------------------


def test_envelope_errors_apply_nothing(factory: Factory, clients: Clients, db_factory: sessionmaker[Session]) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    http = clients.signed_in("w1")
    cid = str(uuid.uuid4())
    good = {"mid": 1, "name": "contact.create", "args": contact_args(case.id)}

    def post(body: Any) -> tuple[int, str, str | None]:
        r = (
            http.post("/api/sync/push", json=body)
            if not isinstance(body, bytes)
            else http.post("/api/sync/push", content=body, headers={"content-type": "application/json"})
        )
        err = r.json()["error"]
        return r.status_code, err["code"], err.get("field")

    assert post(b"{not json") == (400, "malformed_json", None)
    assert post([good]) == (400, "malformed_json", None)
    assert post({"schema_version": 1, "mutations": [good]}) == (400, "invalid_envelope", "client_id")
    assert post({"client_id": cid, "schema_version": 2, "mutations": [good]}) == (
        400, "unsupported_schema_version", "schema_version",
    )  # fmt: skip
    assert post({"client_id": cid, "schema_version": 1, "mutations": {}}) == (400, "invalid_envelope", "mutations")
    assert post({"client_id": cid, "schema_version": 1, "mutations": [good, {**good, "args": []}]}) == (
        400, "invalid_envelope", "mutations[1].mid",
    )  # fmt: skip
    assert post({"client_id": cid, "schema_version": 1, "mutations": [{**good, "mid": 0}]}) == (
        400, "invalid_envelope", "mutations[0].mid",
    )  # fmt: skip
    assert post({"client_id": cid, "schema_version": 1, "mutations": [{**good, "client_time": "yesterday"}]}) == (
        400, "invalid_envelope", "mutations[0].client_time",
    )  # fmt: skip
    many = [{**good, "mid": i + 1, "args": contact_args(case.id)} for i in range(501)]
    assert post({"client_id": cid, "schema_version": 1, "mutations": many}) == (
        413, "too_many_mutations", "mutations",
    )  # fmt: skip
    huge = {**good, "args": contact_args(case.id, notes="x" * (2 * 1024 * 1024))}
    r = http.post("/api/sync/push", json={"client_id": cid, "schema_version": 1, "mutations": [huge]})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert count(db_factory, Contact) == 0
    assert count(db_factory, Device) == 0
    ok = http.post("/api/sync/push", json={"client_id": cid, "schema_version": 1, "mutations": many[:500]})
    assert ok.status_code == 200 and ok.json()["last_mid"] == 500


# --- who may push ------------------------------------------------------------------------------


def test_client_id_belongs_to_its_first_user(factory: Factory, clients: Clients) -> None:
    w1, _ = factory.user("w1"), factory.user("w2")
    case = factory.case(workers=(w1,))
    mine = clients.phone("w1")
    mine.do("contact.create", contact_args(case.id))
    theirs = clients.phone("w2", client_id=mine.client_id)
    r = theirs.send([theirs.mutation("contact.create", contact_args(case.id))])
    assert r.status_code == 403 and r.json()["error"]["code"] == "device_not_owned"
    r = theirs.pull_raw()
    assert r.status_code == 403 and r.json()["error"]["code"] == "device_not_owned"


def test_revoked_device_is_told_to_wipe(factory: Factory, clients: Clients, db_factory: sessionmaker[Session]) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    phone.do("contact.create", contact_args(case.id))
    with db_factory() as s, s.begin():
        s.execute(update(Device).where(Device.id == phone.client_id).values(revoked_at=dt.datetime.now(dt.UTC)))
    r = phone.send([phone.mutation("contact.create", contact_args(case.id))])
    assert r.status_code == 401 and r.json()["error"]["code"] == "device_revoked"
    assert r.headers["clear-site-data"] == '"cache", "storage"'
    r = phone.pull_raw()
    assert r.status_code == 401 and r.json()["error"]["code"] == "device_revoked"
    assert r.headers["clear-site-data"] == '"cache", "storage"'
    assert count(db_factory, Contact) == 1
    assert count(db_factory, AuditEvent, AuditEvent.action == "device.wipe_signalled") == 2


def test_admin_and_anonymous_cannot_sync(factory: Factory, clients: Clients, app: Any) -> None:
    factory.user("a1", role="admin")
    admin = clients.signed_in("a1")
    body = {"client_id": str(uuid.uuid4()), "schema_version": 1, "mutations": []}
    assert admin.post("/api/sync/push", json=body).status_code == 403
    assert admin.get("/api/sync/pull").status_code == 403
    from starlette.testclient import TestClient

    anon = TestClient(app)
    assert anon.post("/api/sync/push", json=body).status_code == 401
    assert anon.get("/api/sync/pull").status_code == 401


# --- re-authorisation --------------------------------------------------------------------------


def test_out_of_scope_and_unknown_cases_are_rejected(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    factory.user("w1")
    w2 = factory.user("w2")
    other = factory.case(workers=(w2,))
    phone = clients.phone("w1")
    result = phone.do("contact.create", contact_args(other.id))
    assert result["error"] == {**result["error"], "code": "out_of_scope", "field": "case_id"}
    result = phone.do("milestone.record", milestone_args(uuid.uuid4()))
    assert result["error"]["code"] == "case_not_found"
    assert count(db_factory, Contact) == 0
    assert count(db_factory, AuditEvent, AuditEvent.action == "sync.reject", AuditEvent.outcome == "denied") == 1


def test_contact_recorded_while_assigned_is_accepted_after_unassignment(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    ended = dt.datetime(2025, 5, 10, 3, 0, tzinfo=dt.UTC)
    with db_factory() as s, s.begin():
        s.execute(update(CaseAssignment).where(CaseAssignment.case_id == case.id).values(ended_at=ended))
    before = phone.do("contact.create", contact_args(case.id, occurred_at="2025-05-09T15:00:00+09:00"))
    after = phone.do("contact.create", contact_args(case.id, occurred_at="2025-05-11T15:00:00+09:00"))
    update_ = phone.do("case.update", {"id": str(case.id), "base_version": 1, "changes": {"next_action": "再訪"}})
    assert before["status"] == "applied"
    assert after["status"] == "rejected" and after["error"]["code"] == "out_of_scope"
    assert update_["status"] == "rejected" and update_["error"]["code"] == "out_of_scope"
    assert count(db_factory, Contact) == 1


# --- the mutations ------------------------------------------------------------------------------


def test_worker_creates_a_case_assigned_to_them(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    phone = clients.phone("w1")
    args = case_create_args(household={"municipality": "テスト市", "town": "本町", "block": "1-2-3"})
    assert phone.do("case.create", args)["status"] == "applied"
    with db_factory() as s:
        case = s.get_one(Case, uuid.UUID(args["id"]))
        person = s.get_one(Person, case.person_id)
        assert person.kana_key == "サトウハナコ" and person.family_name == "佐藤"
        assert case.team_id == w.team_id and case.created_by == w.id and case.household_id is not None
        assignment = s.scalars(select(CaseAssignment).where(CaseAssignment.case_id == case.id)).one()
        assert assignment.user_id == w.id and assignment.is_primary and assignment.ended_at is None
    phone.sync()
    data = phone.case(args["id"])
    assert data["person"]["family_name"] == "佐藤" and data["household"]["block"] == "1-2-3"
    assert data["household"]["members"][0]["relationship"] == "本人"
    assert data["assigned"] == [{**data["assigned"][0], "user_id": str(w.id), "is_primary": True}]
    again = phone.do("case.create", {**args, "person": {"family_name": "別人"}})
    assert again["status"] == "rejected" and again["error"]["code"] == "id_exists"
    bad = phone.do("case.create", case_create_args(person={"given_name": "名だけ"}))
    assert bad["error"] == {**bad["error"], "code": "field_required", "field": "person.family_name"}


def test_case_update_merges_fields_and_reports_conflicts(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w1, w2 = factory.user("w1"), factory.user("w2")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w1, w2))
    a, b = clients.phone("w1"), clients.phone("w2")
    first = a.do("case.update", {"id": str(case.id), "base_version": 1, "changes": {"next_action": "月曜に訪問"}})
    assert first["status"] == "applied"
    # b edited the same field on version 1 too, plus another field nobody touched
    second = b.do(
        "case.update",
        {"id": str(case.id), "base_version": 1, "changes": {"next_action": "火曜に電話", "categories": ["8050"]}},
    )
    assert second["status"] == "conflict"
    (conflict,) = second["conflicts"]
    assert conflict["field"] == "next_action" and conflict["base_version"] == 1
    assert conflict["server_value"] == "月曜に訪問" and conflict["client_value"] == "火曜に電話"
    with db_factory() as s:
        row = s.get_one(Case, case.id)
        assert row.next_action == "月曜に訪問" and row.categories == ["8050"] and row.version == 3
        assert row.field_versions == {"next_action": 2, "categories": 3}
        stored = s.scalars(select(CaseConflict)).one()
        assert stored.client_value == {"value": "火曜に電話"} and stored.server_value == {"value": "月曜に訪問"}
        assert stored.resolved_at is None and stored.device_id == b.client_id and stored.mid == 1
    # the same value as the server's is no conflict; a base equal to the server's value merges
    same = b.do("case.update", {"id": str(case.id), "base_version": 1, "changes": {"next_action": "月曜に訪問"}})
    assert same["status"] == "applied"
    three_way = b.do(
        "case.update",
        {
            "id": str(case.id),
            "base_version": 1,
            "changes": {"next_action": "水曜"},
            "base": {"next_action": "月曜に訪問"},
        },
    )
    assert three_way["status"] == "applied"
    # a lost answer: the duplicate repeats the conflict
    dup = b.push(*[{"mid": 1, "name": "case.update", "args": {}}])["results"][0]
    assert dup["original"]["status"] == "conflict" and dup["original"]["conflicts"][0]["field"] == "next_action"
    # the coordinator's phone sees the open conflict as its own entity
    coordinator = clients.phone("c1")
    coordinator.sync()
    (listed,) = [v for (e, _), v in coordinator.store.items() if e == "conflict"]
    assert listed["case_id"] == str(case.id) and listed["client_value"] == "火曜に電話"


def test_office_fields_need_review_permission(factory: Factory, clients: Clients) -> None:
    w = factory.user("w1")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w,))
    result = clients.phone("w1").do(
        "case.update", {"id": str(case.id), "base_version": 1, "changes": {"status": "closed"}}
    )
    assert result["error"] == {**result["error"], "code": "field_not_allowed", "field": "changes.status"}
    result = clients.phone("c1").do(
        "case.update",
        {"id": str(case.id), "base_version": 1, "changes": {"status": "watching", "person.phone": "090-0000-0000"}},
    )
    assert result["status"] == "applied"


def test_contact_next_action_moves_the_case_unless_a_later_contact_planned(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    phone.do("contact.create", contact_args(case.id, occurred_at="2025-05-02T10:00:00+09:00",
                                            next_action="木曜に再訪", next_action_due="2025-05-08"))  # fmt: skip
    phone.do("contact.create", contact_args(case.id, occurred_at="2025-05-01T10:00:00+09:00",
                                            next_action="古い予定", next_action_due="2025-05-03"))  # fmt: skip
    with db_factory() as s:
        row = s.get_one(Case, case.id)
        assert (row.next_action, row.next_action_due) == ("木曜に再訪", dt.date(2025, 5, 8))
        assert row.version == 2 and row.field_versions["next_action"] == 2


def test_urgent_outcome_raises_one_urgent_alert_and_it_can_be_acknowledged(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    other = factory.case(workers=(factory.user("w2"),))
    phone = clients.phone("w1")
    for _ in range(2):
        assert phone.do("contact.create", contact_args(case.id, outcome="EMERGENCY_RESPONSE"))["status"] == "applied"
    with db_factory() as s:
        alert = s.scalars(select(Alert)).one()
        assert (alert.rule, alert.level, alert.state, alert.case_id) == ("R", "urgent", "open", case.id)
    ack = phone.do("alert.acknowledge", {"id": str(alert.id), "note": "支援会議で検討", "next_date": "2025-05-20"})
    assert ack["status"] == "applied"
    with db_factory() as s, s.begin():
        row = s.get_one(Alert, alert.id)
        assert row.state == "acknowledged" and row.acknowledged_by == w.id and row.ack_next_date == dt.date(2025, 5, 20)
        foreign = Alert(case_id=other.id, team_id=other.team_id, rule="S2", level="caution")
        s.add(foreign)
    result = phone.do("alert.acknowledge", {"id": str(foreign.id), "note": "x", "next_date": "2025-05-20"})
    assert result["status"] == "rejected" and result["error"]["code"] == "alert_not_found"  # existence not revealed
    result = phone.do("alert.acknowledge", {"id": str(alert.id), "next_date": "2025-05-20"})
    assert result["error"] == {**result["error"], "code": "field_required", "field": "note"}


def test_milestones_consents_and_amendments(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    assert phone.do("milestone.record", milestone_args(case.id, note="母と継続相談"))["status"] == "applied"
    bad = phone.do("milestone.record", milestone_args(case.id, milestone="ENLIGHTENED"))
    assert bad["error"] == {**bad["error"], "code": "value_not_allowed", "field": "milestone"}
    consent_id = str(uuid.uuid4())
    consent = {"id": consent_id, "case_id": str(case.id), "scope": ["地域包括支援センター"], "form": "oral",
               "given_on": "2025-05-01"}  # fmt: skip
    assert phone.do("consent.record", consent)["status"] == "applied"
    assert phone.do("consent.withdraw", {"id": consent_id, "withdrawn_on": "2025-06-01"})["status"] == "applied"
    original = contact_args(case.id, outcome="NO_ANSWER")
    phone.do("contact.create", original)
    fixed = contact_args(case.id, outcome="SPOKE_THROUGH_DOOR", amends_id=original["id"])
    assert phone.do("contact.amend", fixed)["status"] == "applied"
    wrong = phone.do("contact.amend", contact_args(case.id, amends_id=str(uuid.uuid4())))
    assert wrong["error"]["code"] == "contact_not_found"
    with db_factory() as s:
        assert s.scalars(select(MilestoneEvent)).one().note == "母と継続相談"
        stored = s.scalars(select(Consent)).one()
        assert stored.withdrawn_on == dt.date(2025, 6, 1) and stored.person_id == s.get_one(Case, case.id).person_id
        amendment = s.get_one(Contact, uuid.UUID(fixed["id"]))
        assert amendment.amends_id == uuid.UUID(original["id"]) and amendment.reached == "person"


# --- failures and concurrency -------------------------------------------------------------------


def test_temporary_database_failure_answers_503_and_advances_nothing(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    real = sync_push.registry

    def busy(ctx: Any, args: Any) -> Any:
        raise OperationalError("UPDATE …", {}, Exception("database is locked"))

    monkeypatch.setattr(sync_push, "registry", lambda: {**real(), "milestone.record": busy})
    ok = phone.mutation("contact.create", contact_args(case.id))
    failing = phone.mutation("milestone.record", milestone_args(case.id))
    r = phone.send([ok, failing])
    assert r.status_code == 503 and r.json()["error"]["code"] == "server_busy"
    assert count(db_factory, Contact) == 0 and count(db_factory, SyncMutation) == 0
    monkeypatch.setattr(sync_push, "registry", real)
    answer = phone.send([ok, failing]).json()
    assert answer["last_mid"] == 2 and count(db_factory, Contact) == 1


def test_concurrent_identical_pushes_give_one_effect(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    """Threads racing the same batch through the app (on PostgreSQL truly in parallel: the device
    row lock serialises them; on SQLite the database does)."""
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    batch = [phone.mutation("contact.create", contact_args(case.id)) for _ in range(5)]
    batch.append(
        phone.mutation("case.update", {"id": str(case.id), "base_version": 1, "changes": {"next_action": "x"}})
    )
    racers = 6
    barrier = threading.Barrier(racers)
    answers: list[Any] = [None] * racers
    https = [clients.signed_in("w1") for _ in range(racers)]

    def run(i: int) -> None:
        barrier.wait()
        body = {"client_id": str(phone.client_id), "schema_version": 1, "mutations": batch}
        answers[i] = https[i].post("/api/sync/push", json=body)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(a is not None and a.status_code == 200 for a in answers), [a and a.text for a in answers]
    statuses = sorted(tuple(r["status"] for r in a.json()["results"]) for a in answers)
    assert statuses.count(("applied",) * 6) == 1
    assert statuses.count(("duplicate",) * 6) == racers - 1
    assert count(db_factory, Contact) == 5
    assert count(db_factory, SyncMutation) == 6
    with db_factory() as s:
        assert s.get_one(Case, case.id).version == 2


def test_audit_of_a_service_survives_a_later_rejection_in_the_batch(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    """Services audit inside the mutation's SAVEPOINT (raising an urgent alert, acknowledging one);
    a later mutation of the same batch that is rolled back must not take those rows along."""
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    urgent = phone.mutation("contact.create", contact_args(case.id, outcome="EMERGENCY_RESPONSE"))
    bad = phone.mutation("contact.create", contact_args(case.id, outcome="NOPE"))
    answer = phone.push(urgent, bad)
    assert [r["status"] for r in answer["results"]] == ["applied", "rejected"]
    assert count(db_factory, AuditEvent, AuditEvent.action == "alert.raise") == 1
    assert count(db_factory, AuditEvent, AuditEvent.action == "contact.create") == 1


def test_after_a_restore_the_phone_resends_what_the_server_lost(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    """A backup taken after mid 1, restored after mid 3 was applied: the server answers its older
    last_mid under a new epoch, and the phone re-sends its kept mutations from there."""
    from sqlalchemy import delete

    from sync.cursor import rotate_epoch

    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    kept = [phone.mutation("contact.create", contact_args(case.id)) for _ in range(3)]
    before = phone.push(*kept)
    assert before["last_mid"] == 3
    lost = [uuid.UUID(m["args"]["id"]) for m in kept[1:]]
    with db_factory() as s, s.begin():  # what the restored database looks like
        s.execute(delete(SyncMutation).where(SyncMutation.mid > 1))
        s.execute(delete(Contact).where(Contact.id.in_(lost)))
        s.execute(update(Device).where(Device.id == phone.client_id).values(last_mid=1))
        rotate_epoch(s)
    newer = phone.mutation("contact.create", contact_args(case.id))
    answer = phone.send([newer]).json()
    assert answer["last_mid"] == 1 and answer["results"] == [] and answer["epoch"] != before["epoch"]
    answer = phone.send([*kept[answer["last_mid"] :], newer]).json()  # from last_mid + 1, original mids
    assert [r["status"] for r in answer["results"]] == ["applied", "applied", "applied"]
    assert count(db_factory, Contact) == 4 and count(db_factory, SyncMutation) == 4
