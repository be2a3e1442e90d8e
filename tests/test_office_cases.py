"""The case list (search, filters, sort, pages) and the visit timeline (order, amendments, reach,
household, escaping), and the audit rows that page views leave."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.db import utcnow
from server.models import AuditEvent, User
from server.services import caselist
from server.services.auth import actor_for
from tests.factories import Factory, login
from tests.factories_office import OfficeFactory, at


@pytest.fixture
def office(db_factory: sessionmaker[Session]) -> OfficeFactory:
    return OfficeFactory(db_factory)


def _names(html: str) -> list[str]:
    """The names in the case list, in order."""
    return re.findall(r'<a href="/cases/[0-9a-f-]{36}">([^<]+)</a>', html)


@pytest.mark.parametrize("query", ["たかはし", "タカハシ", "ﾀｶﾊｼ", "高橋", "高橋 健", "ﾀｶﾊｼｹﾝ", "けん"])
def test_search_is_kana_insensitive_and_matches_kanji(client: TestClient, factory: Factory, query: str) -> None:
    factory.user("c1", role="coordinator")
    factory.case(family_name="高橋", given_name="健", kana=("タカハシ", "ケン"))
    factory.case(family_name="山田", given_name="花子", kana=("ヤマダ", "ハナコ"))
    login(client, "c1")
    assert _names(client.get("/cases", params={"q": query}).text) == ["高橋 健"]


def test_search_treats_like_wildcards_literally(client: TestClient, factory: Factory) -> None:
    factory.user("c1", role="coordinator")
    factory.case(family_name="高橋", kana=("タカハシ", "ケン"))
    login(client, "c1")
    assert _names(client.get("/cases", params={"q": "%"}).text) == []
    assert _names(client.get("/cases", params={"q": "_"}).text) == []


def test_filters(client: TestClient, factory: Factory, office: OfficeFactory) -> None:
    w1 = factory.user("w1")
    w2 = factory.user("w2")
    factory.user("s1", role="supervisor")
    now = utcnow()
    recent = factory.case(workers=(w1,), family_name="近藤", kana=("コンドウ", ""), categories=["8050"])
    factory.contact(recent, w1, "MET_PERSON", occurred_at=now - dt.timedelta(days=3))
    silent = factory.case(workers=(w2,), family_name="佐野", kana=("サノ", ""), categories=["young_carer"],
                          identified_on=dt.date(2024, 1, 1))
    factory.contact(silent, w2, "MET_FAMILY_ONLY", occurred_at=now - dt.timedelta(days=45))
    factory.contact(silent, w2, "NO_ANSWER", occurred_at=now - dt.timedelta(days=2))  # an attempt is not a reach
    office.alert(silent, "S2", "caution")
    office.milestone(silent, w2, "FAMILY_ENGAGED", dt.date(2025, 1, 5))
    office.milestone(recent, w1, "FIRST_FACE_TO_FACE", dt.date(2025, 1, 5))
    office.milestone(recent, w1, "SETBACK", dt.date(2025, 2, 5))
    factory.case(family_name="大野", kana=("オオノ", ""), status="closed", closed_on=dt.date(2025, 3, 1))
    login(client, "s1")

    def names(**params: str) -> set[str]:
        return {n.split()[0] for n in _names(client.get("/cases", params=params).text)}

    assert names() == {"近藤", "佐野"}  # open and watching by default
    assert names(status="closed") == {"大野"}
    assert names(status="all") == {"近藤", "佐野", "大野"}
    assert names(silent="30") == {"佐野"}
    assert names(silent="60") == set()
    assert names(category="8050") == {"近藤"}
    assert names(worker=str(w2.id)) == {"佐野"}
    assert names(alert="any") == {"佐野"}
    assert names(alert="urgent") == set()
    assert names(stage="SETBACK") == {"近藤"}
    assert names(stage="FAMILY_ENGAGED") == {"佐野"}
    assert names(category="not-a-category") == {"近藤", "佐野"}  # invalid values are ignored, not an error
    page = client.get("/cases", params={"silent": "30"}).text
    assert "30日以上接触なし" in page


def test_silent_filter_boundary_days(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    """Reached exactly 30 Tokyo calendar days ago counts as 30 days without reach; 29 does not."""
    w = factory.user("w1")
    now = at(2025, 6, 30, 9, 0)
    thirty = factory.case(workers=(w,), family_name="三十")
    factory.contact(thirty, w, "MET_PERSON", occurred_at=at(2025, 5, 31, 23, 59))
    twenty_nine = factory.case(workers=(w,), family_name="二九")
    factory.contact(twenty_nine, w, "MET_PERSON", occurred_at=at(2025, 6, 1, 0, 1))
    never = factory.case(workers=(w,), family_name="未達", identified_on=dt.date(2025, 5, 31))
    young = factory.case(workers=(w,), family_name="新規", identified_on=dt.date(2025, 6, 2))
    with db_factory() as s:
        actor = actor_for(s, s.get(User, w.id))  # type: ignore[arg-type]
        page = caselist.list_cases(s, actor, caselist.CaseFilters(silent_days=30), now)
    got = {r.id: r.silent_days for r in page.rows}
    assert got == {thirty.id: 30, never.id: 30}
    assert twenty_nine.id not in got and young.id not in got


def test_sort_and_pages(client: TestClient, factory: Factory, db_factory: sessionmaker[Session]) -> None:
    factory.user("c1", role="coordinator")
    kana = ["ア", "イ", "ウ", "エ", "オ", "カ", "キ", "ク", "ケ", "コ"]
    for i in range(caselist.PER_PAGE + 5):
        factory.case(family_name=f"人{i:02d}", kana=(kana[i % 10] + f"{i:02d}", ""),
                     identified_on=dt.date(2025, 4, 1) + dt.timedelta(days=i))
    login(client, "c1")
    first = client.get("/cases", params={"sort": "identified"}).text
    assert "55件" in first and "1 / 2" in first
    names = _names(first)
    assert len(names) == caselist.PER_PAGE and names[0].startswith("人54")
    assert 'href="/cases?sort=identified&amp;page=2"' in first
    second = _names(client.get("/cases", params={"sort": "identified", "page": "2"}).text)
    assert len(second) == 5 and second[-1].startswith("人00")
    by_kana = _names(client.get("/cases", params={"sort": "name"}).text)
    assert by_kana[0].startswith("人00")  # ア00


def test_list_audits_each_case_shown_but_never_the_query(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    c1 = factory.user("c1", role="coordinator")
    a = factory.case(family_name="高橋", kana=("タカハシ", ""))
    factory.case(family_name="山田", kana=("ヤマダ", ""))
    login(client, "c1")
    client.get("/cases", params={"q": "たかはし"})
    with db_factory() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "case.list")).all()
        assert [(r.actor_id, r.case_id) for r in rows] == [(c1.id, a.id)]
        details = " ".join(r.detail + (r.entity_id or "") for r in s.scalars(select(AuditEvent)))
        assert "たかはし" not in details and "タカハシ" not in details


def test_timeline_order_reach_and_amendments(
    client: TestClient, factory: Factory, office: OfficeFactory, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1", display_name="大西 春香")
    c1 = factory.user("c1", role="coordinator")
    case = factory.case(workers=(w,))
    late = factory.contact(case, w, "MET_PERSON", occurred_at=at(2025, 6, 1, 15))
    early = factory.contact(case, w, "NO_ANSWER", occurred_at=at(2025, 5, 1, 10))
    family = factory.contact(case, w, "PHONE_FAMILY", method="PHONE", occurred_at=at(2025, 5, 20, 10))
    m_same_day = office.milestone(case, w, "FIRST_FACE_TO_FACE", dt.date(2025, 6, 1))
    m_first = office.milestone(case, w, "FAMILY_FIRST_CONTACT", dt.date(2025, 5, 20))
    # A correction moves the first attempt's time and outcome; it stays beside its original.
    office.amendment(early, w, "LEFT_LETTER", method="LETTER", occurred_at=at(2025, 5, 2, 9))
    login(client, "c1")
    html = client.get(f"/cases/{case.id}").text
    order = re.findall(r'id="([cm]-[0-9a-f-]{36})"', html)
    assert order == [f"c-{early.id}", f"c-{family.id}", f"m-{m_first.id}", f"c-{late.id}", f"m-{m_same_day.id}"]
    reversed_order = re.findall(r'id="([cm]-[0-9a-f-]{36})"', client.get(f"/cases/{case.id}?order=desc").text)
    assert reversed_order == order[::-1]
    # Reached person / family / nobody: a class for colour *and* an icon with a text label.
    assert 'class="entry contact reach-person"' in html and "本人に届いた" in html
    assert 'class="entry contact reach-family"' in html and "家族に届いた" in html
    assert 'class="entry contact reach-none"' in html and "届かず" in html
    assert "当初の記録" in html and "訂正 1" in html and "不在（応答なし）" in html
    assert "大西 春香" in html and "サーバー受信" in html  # who recorded it, when it reached the server
    assert "<svg" in html and "初めて対面" in html  # the milestone ladder chart
    with db_factory() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "case.read")).all()
        assert [(r.actor_id, r.case_id, r.entity) for r in rows] == [(c1.id, case.id, "case")] * 2  # two views


def test_user_text_is_escaped_everywhere(client: TestClient, factory: Factory, office: OfficeFactory) -> None:
    w = factory.user("w1")
    factory.user("c1", role="coordinator")
    evil = "<script>alert(1)</script>"
    case = factory.case(workers=(w,), family_name="<b>太</b>", given_name=evil, kana=("タ", ""))
    factory.contact(case, w, "MET_PERSON", notes=evil, next_action=evil)
    office.milestone(case, w, "CONNECTED", dt.date(2025, 6, 1), note=evil, destination=evil)
    office.review(case, w, evil)
    office.member(case, evil, "", evil)
    office.conflict(case, w, "next_action", evil, evil)
    office.alert(case, ack_note=evil)
    login(client, "c1")
    for path in (f"/cases/{case.id}", "/cases", f"/cases/{case.id}/summary", f"/cases/{case.id}/export"):
        html = client.get(path).text
        assert "<script" not in html, path
        assert "<b>太" not in html, path
        assert "&lt;script&gt;" in html, path


def test_household_care_consent_and_next_action(client: TestClient, factory: Factory, office: OfficeFactory) -> None:
    w = factory.user("w1")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w,), next_action="民生委員と夕方に訪問", next_action_due=dt.date(2025, 7, 1))
    office.subject_member(case)
    mother = office.member(case, "山田", "トメ", "母", birth_year=1943)
    office.care(case.person_id, mother.id, "介護")
    office.consent(case, w, scope=["地域包括支援センター"], form="oral", withdrawn_on=dt.date(2025, 8, 1))
    factory.contact(case, w, "MET_FAMILY_ONLY", sharing_basis="SHIEN_KAIGI_106_6")
    login(client, "c1")
    html = client.get(f"/cases/{case.id}").text
    assert "トメ" in html and "母" in html and "1943年生まれ" in html
    assert "介護" in html and "ケアする人" in html
    assert "口頭" in html and "地域包括支援センター" in html and "撤回日" in html
    assert "共有の根拠: 支援会議（社会福祉法第106条の6）" in html
    assert "民生委員と夕方に訪問" in html and "予定日を過ぎています" in html


def test_dates_follow_the_users_choice_and_language(client: TestClient, factory: Factory) -> None:
    factory.user("c1", role="coordinator")
    case = factory.case(identified_on=dt.date(2025, 4, 1))
    login(client, "c1")
    assert "令和7年4月1日" in client.get(f"/cases/{case.id}").text
    r = client.post("/preferences", data={"language": "ja", "next": f"/cases/{case.id}"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{case.id}?done=preferences"
    page = client.get(f"/cases/{case.id}").text
    assert "2025年4月1日" in page and "令和7年" not in page
    client.post("/preferences", data={"language": "en", "era_dates": "1", "next": "https://evil.example/"})
    english = client.get(f"/cases/{case.id}")
    assert '<html lang="en">' in english.text and "1 April 2025" in english.text
    assert client.post("/preferences", data={"language": "fr"}).status_code == 422


def test_pages_are_japanese_by_default_and_script_free(client: TestClient, factory: Factory) -> None:
    factory.user("s1", role="supervisor")
    case = factory.case()
    login(client, "s1")
    for path in ("/cases", f"/cases/{case.id}", "/dashboard", f"/cases/{case.id}/summary"):
        html = client.get(path).text
        assert '<html lang="ja">' in html, path
        assert "<script" not in html and "style=" not in html, path


def test_case_not_found_for_a_malformed_or_unknown_id(client: TestClient, factory: Factory) -> None:
    factory.user("s1", role="supervisor")
    login(client, "s1")
    assert client.get("/cases/not-a-uuid").status_code == 404
    assert client.get("/cases/00000000-0000-0000-0000-000000000000").status_code == 404


RAW_KEY = re.compile(
    r"\b(?:office|report|ui|done|case_field|alert_rule_short|milestone_short|meeting_kind|reached_icon)\.[A-Za-z0-9_]+"
)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_label_comes_from_the_catalogue(
    client: TestClient, factory: Factory, office: OfficeFactory, db_factory: sessionmaker[Session], lang: str
) -> None:
    w = factory.user("w1")
    factory.user("s1", role="supervisor", language=lang)
    case = factory.case(workers=(w,), next_action="訪問", next_action_due=dt.date(2025, 7, 1))
    first = factory.contact(case, w, "NO_ANSWER", occurred_at=at(2025, 5, 1), risk_flags=["dog"], duration_min=5)
    office.amendment(first, w, "MET_FAMILY_ONLY", reception="WARM")
    office.milestone(case, w, "SETBACK", dt.date(2025, 5, 2))
    office.milestone(case, w, "CONNECTED", dt.date(2025, 6, 2), destination="居場所")
    office.alert(case)
    office.conflict(case, w, "categories", ["8050"], ["8050", "young_carer"])
    office.consent(case, w)
    office.review(case, w, "ok")
    office.subject_member(case)
    login(client, "s1")
    for path in (f"/cases/{case.id}", "/cases", f"/cases/{case.id}/summary", f"/cases/{case.id}/export",
                 "/dashboard?fiscal_year=2025", f"/cases/{case.id}?done=assigned"):
        html = client.get(path).text
        assert [k for k in RAW_KEY.findall(html) if k != "office.css"] == [], path
