"""The coordinator's actions on a case: assign and reassign workers (history kept), write a review
comment, settle a sync conflict — each audited, each checked against permission and scope."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.models import AuditEvent, Case, CaseAssignment, CaseConflict, CaseReview, User
from tests.factories import Factory, login
from tests.factories_office import OfficeFactory


@pytest.fixture
def office(db_factory: sessionmaker[Session]) -> OfficeFactory:
    return OfficeFactory(db_factory)


def _assignments(db_factory: sessionmaker[Session], case: Case) -> list[tuple[str, bool, bool]]:
    """(username, primary, active) of every assignment row, oldest first."""
    with db_factory() as s:
        rows = s.execute(
            select(User.username, CaseAssignment.is_primary, CaseAssignment.ended_at)
            .join(User, User.id == CaseAssignment.user_id)
            .where(CaseAssignment.case_id == case.id)
            .order_by(CaseAssignment.started_at, CaseAssignment.ended_at.is_(None))
        )
        return [(u, p, e is None) for u, p, e in rows]


def _actions(db_factory: sessionmaker[Session]) -> list[str]:
    with db_factory() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_reassign_primary_keeps_history(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    w1 = factory.user("w1")
    w2 = factory.user("w2")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w1,))
    login(client, "c1")
    r = client.post(f"/cases/{case.id}/assignments", data={"user_id": str(w2.id), "role": "primary"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{case.id}?done=assigned#assignments"
    rows = _assignments(db_factory, case)
    assert ("w1", True, False) in rows  # w1's time as primary, ended
    assert ("w1", False, True) in rows  # w1 stays on as another worker
    assert ("w2", True, True) in rows
    assert len(rows) == 3
    assert "担当を設定しました" in client.get(r.headers["location"]).text
    # Ending w1's assignment: the row stays, w1 loses the case.
    with db_factory() as s:
        active_w1 = s.scalars(select(CaseAssignment).where(
            CaseAssignment.case_id == case.id, CaseAssignment.user_id == w1.id, CaseAssignment.ended_at.is_(None)
        )).one()
    r = client.post(f"/cases/{case.id}/assignments/{active_w1.id}/end", follow_redirects=False)
    assert r.status_code == 303
    assert len(_assignments(db_factory, case)) == 3
    assert client.post(f"/cases/{case.id}/assignments/{active_w1.id}/end").status_code == 404  # already ended
    changes = [a for a in _actions(db_factory) if a in ("case.assign", "case.unassign")]
    assert changes == ["case.assign", "case.unassign"]
    login(client, "w1")
    assert client.get(f"/cases/{case.id}").status_code == 404
    login(client, "w2")
    assert client.get(f"/cases/{case.id}").status_code == 200


def test_assigning_the_same_role_again_changes_nothing(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    w1 = factory.user("w1")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w1,))
    login(client, "c1")
    client.post(f"/cases/{case.id}/assignments", data={"user_id": str(w1.id), "role": "primary"})
    assert _assignments(db_factory, case) == [("w1", True, True)]


@pytest.mark.parametrize("who", ["other_team_worker", "admin", "inactive", "not_a_uuid"])
def test_assignee_must_be_active_staff_of_a_visible_team(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session], who: str
) -> None:
    factory.user("c1", role="coordinator", team="北部班")
    people = {
        "other_team_worker": factory.user("w9", team="南部班"),
        "admin": factory.user("a1", role="admin", team="北部班"),
        "inactive": factory.user("w8", team="北部班", is_active=False),
    }
    case = factory.case(team="北部班")
    login(client, "c1")
    user_id = str(people[who].id) if who in people else "nope"
    r = client.post(f"/cases/{case.id}/assignments", data={"user_id": user_id, "role": "other"})
    assert r.status_code == 422
    assert _assignments(db_factory, case) == []


def test_supervisor_may_assign_across_teams(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    factory.user("s1", role="supervisor", team="北部班")
    w9 = factory.user("w9", team="南部班")
    case = factory.case(team="北部班")
    login(client, "s1")
    r = client.post(f"/cases/{case.id}/assignments", data={"user_id": str(w9.id), "role": "primary"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert _assignments(db_factory, case) == [("w9", True, True)]


def test_review_comment(client: TestClient, factory: Factory, db_factory: sessionmaker[Session]) -> None:
    c1 = factory.user("c1", role="coordinator", display_name="青木 陽子")
    case = factory.case()
    login(client, "c1")
    body = "民生委員と一緒に、夕方の時間帯に訪問してみてはどうでしょうか。"
    r = client.post(f"/cases/{case.id}/reviews", data={"body": body, "sharing_basis": "SHIEN_KAIGI_106_6"},
                    follow_redirects=False)
    assert r.status_code == 303
    with db_factory() as s:
        review = s.scalars(select(CaseReview)).one()
        assert (review.author_id, review.body, review.sharing_basis) == (c1.id, body, "SHIEN_KAIGI_106_6")
        audit_row = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.create")).one()
        assert audit_row.case_id == case.id and audit_row.fields == ["body", "sharing_basis"]
        assert body not in (audit_row.detail or "")
    page = client.get(f"/cases/{case.id}").text
    assert body in page and "青木 陽子" in page
    assert client.post(f"/cases/{case.id}/reviews", data={"body": "   "}).status_code == 422
    assert client.post(f"/cases/{case.id}/reviews", data={"body": "x", "sharing_basis": "PUBLIC"}).status_code == 422


def test_settle_conflict_with_the_phones_value(
    client: TestClient, factory: Factory, office: OfficeFactory, db_factory: sessionmaker[Session]
) -> None:
    w1 = factory.user("w1")
    c1 = factory.user("c1", role="coordinator")
    case = factory.case(workers=(w1,), next_action_due=dt.date(2025, 7, 1))
    conflict = office.conflict(case, w1, "next_action_due", "2025-07-01", "2025-07-03")
    login(client, "c1")
    page = client.get(f"/cases/{case.id}").text
    assert "同期の競合" in page and "令和7年7月3日" in page
    r = client.post(f"/cases/{case.id}/conflicts/{conflict.id}", data={"choice": "client"}, follow_redirects=False)
    assert r.status_code == 303
    with db_factory() as s:
        saved = s.get(Case, case.id)
        assert saved is not None
        assert saved.next_action_due == dt.date(2025, 7, 3)
        assert saved.version == case.version + 1
        assert saved.field_versions["next_action_due"] == saved.version
        settled = s.get(CaseConflict, conflict.id)
        assert settled is not None
        assert (settled.resolution, settled.resolved_by) == ("client", c1.id) and settled.resolved_at is not None
    again = client.post(f"/cases/{case.id}/conflicts/{conflict.id}", data={"choice": "server"})
    assert again.status_code == 409
    assert "同期の競合" not in client.get(f"/cases/{case.id}").text


def test_settle_conflict_keeping_the_server_value(
    client: TestClient, factory: Factory, office: OfficeFactory, db_factory: sessionmaker[Session]
) -> None:
    w1 = factory.user("w1")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w1,), next_action="家庭訪問")
    conflict = office.conflict(case, w1, "next_action", "家庭訪問", "電話")
    login(client, "c1")
    client.post(f"/cases/{case.id}/conflicts/{conflict.id}", data={"choice": "server"})
    with db_factory() as s:
        saved = s.get(Case, case.id)
        assert saved is not None and saved.next_action == "家庭訪問" and saved.version == case.version
        settled = s.get(CaseConflict, conflict.id)
        assert settled is not None and settled.resolution == "server"
        row = s.scalars(select(AuditEvent).where(AuditEvent.action == "conflict.settle")).one()
        assert row.fields == ["next_action"] and row.detail == "server"


@pytest.mark.parametrize(("field", "value"), [("status", "gone"), ("categories", ["nope"]), ("next_action_due", "x"),
                                              ("person_id", "x")])
def test_conflict_values_are_checked(
    client: TestClient, factory: Factory, office: OfficeFactory, db_factory: sessionmaker[Session],
    field: str, value: object,
) -> None:
    w1 = factory.user("w1")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w1,))
    conflict = office.conflict(case, w1, field, None, value)
    login(client, "c1")
    assert client.post(f"/cases/{case.id}/conflicts/{conflict.id}", data={"choice": "client"}).status_code == 422
    with db_factory() as s:
        still = s.get(CaseConflict, conflict.id)
        assert still is not None and still.resolved_at is None


def test_conflict_of_another_case_is_not_found(
    client: TestClient, factory: Factory, office: OfficeFactory
) -> None:
    w1 = factory.user("w1")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w1,))
    other = factory.case(workers=(w1,), family_name="別")
    conflict = office.conflict(other, w1, "next_action", "a", "b")
    login(client, "c1")
    assert client.post(f"/cases/{case.id}/conflicts/{conflict.id}", data={"choice": "client"}).status_code == 404


def test_settlable_fields_are_the_fields_phones_update() -> None:
    from server.services import conflicts
    from sync import case_mutations

    assert set(conflicts.FIELDS) == set(case_mutations.FIELDS)


def test_settle_a_person_field_updates_the_search_key(
    client: TestClient, factory: Factory, office: OfficeFactory, db_factory: sessionmaker[Session]
) -> None:
    from server.models import Person

    w1 = factory.user("w1")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w1,), kana=("ヤマダ", "タロウ"))
    conflict = office.conflict(case, w1, "person.family_name_kana", "ヤマダ", "ヤマタ")
    login(client, "c1")
    assert "フリガナ（氏）" in client.get(f"/cases/{case.id}").text
    client.post(f"/cases/{case.id}/conflicts/{conflict.id}", data={"choice": "client"})
    with db_factory() as s:
        person = s.get(Person, case.person_id)
        saved = s.get(Case, case.id)
        assert person is not None and saved is not None
        assert (person.family_name_kana, person.kana_key) == ("ヤマタ", "ヤマタタロウ")
        assert saved.field_versions["person.family_name_kana"] == saved.version == case.version + 1
