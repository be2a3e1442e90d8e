"""One person's whole record for a 開示請求 (JSON and a printable page) and the 支援会議 summary (which
leaves out what was marked internal)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.models import AuditEvent
from tests.factories import Factory, login
from tests.factories_office import OfficeFactory, at


def test_disclosure_json_holds_every_case_of_the_person(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    office = OfficeFactory(db_factory)
    w = factory.user("w1")
    s1 = factory.user("s1", role="supervisor")
    old = factory.case(workers=(w,), status="closed", closed_on=dt.date(2024, 3, 1), identified_on=dt.date(2023, 5, 1))
    new = factory.case(workers=(w,), identified_on=dt.date(2025, 4, 1))
    with db_factory() as s, s.begin():  # the same person, identified again after closure
        from server.models import Case

        again = s.get(Case, new.id)
        assert again is not None
        again.person_id = old.person_id
    original = factory.contact(new, w, "NO_ANSWER", occurred_at=at(2025, 5, 1), notes="初回")
    office.amendment(original, w, "SPOKE_THROUGH_DOOR")
    office.milestone(new, w, "FIRST_VOICE_CONTACT", dt.date(2025, 5, 1), note="声を聞けた")
    office.consent(new, w)
    office.review(new, s1, "継続")
    login(client, "s1")
    r = client.get(f"/cases/{new.id}/export?format=json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert "attachment" in r.headers["content-disposition"]
    data = r.json()
    assert data["format"] == "yorisoi.disclosure/1"
    assert data["person"]["family_name"] == "山田"
    assert [c["id"] for c in data["cases"]] == [str(old.id), str(new.id)]
    latest = data["cases"][1]
    assert latest["contacts"][0]["notes"] == "初回"
    assert latest["contacts"][0]["amendments"][0]["outcome"] == "SPOKE_THROUGH_DOOR"
    assert latest["milestones"][0]["note"] == "声を聞けた"
    assert latest["consents"][0]["form"] == "written" and latest["reviews"][0]["body"] == "継続"
    assert latest["stage"] == "FIRST_VOICE_CONTACT"
    with db_factory() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "case.export")).all()
        assert sorted(str(r.case_id) for r in rows) == sorted([str(old.id), str(new.id)])
        assert all(r.actor_id == s1.id for r in rows)
    printable = client.get(f"/cases/{new.id}/export")
    assert printable.status_code == 200
    assert "保有個人データ開示用の記録" in printable.text and "声を聞けた" in printable.text
    assert "ケース 2" in printable.text


def test_disclosure_leaves_out_cases_outside_the_scope(client: TestClient, factory: Factory,
                                                      db_factory: sessionmaker[Session]) -> None:
    factory.user("c1", role="coordinator", team="北部班")
    mine = factory.case(team="北部班")
    theirs = factory.case(team="南部班")
    with db_factory() as s, s.begin():
        from server.models import Case

        row = s.get(Case, theirs.id)
        assert row is not None
        row.person_id = mine.person_id
    login(client, "c1")
    data = client.get(f"/cases/{mine.id}/export?format=json").json()
    assert [c["id"] for c in data["cases"]] == [str(mine.id)]


def test_meeting_summary_withholds_internal_records(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    office = OfficeFactory(db_factory)
    w = factory.user("w1")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w,))
    factory.contact(case, w, "MET_FAMILY_ONLY", notes="会議で共有できる内容", sharing_basis="SHIEN_KAIGI_106_6",
                    occurred_at=at(2025, 5, 1))
    factory.contact(case, w, "MET_FAMILY_ONLY", notes="内部限りの内容", sharing_basis="INTERNAL_ONLY",
                    occurred_at=at(2025, 5, 2))
    office.milestone(case, w, "FAMILY_ENGAGED", dt.date(2025, 5, 1), sharing_basis="CONSENT", note="同意あり")
    office.review(case, w, "内部の振り返り")
    login(client, "c1")
    r = client.get(f"/cases/{case.id}/summary")
    assert r.status_code == 200
    assert "支援会議用ケース概要" in r.text
    assert "会議で共有できる内容" in r.text and "同意あり" in r.text
    assert "内部限りの内容" not in r.text and "内部の振り返り" not in r.text
    assert "内部限りの記録 2件" in r.text
    with db_factory() as s:
        row = s.scalars(select(AuditEvent).where(AuditEvent.action == "case.print")).one()
        assert row.case_id == case.id
