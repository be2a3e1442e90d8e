"""実績報告 figures against a hand-computed fixture (a case spanning two 年度, contacts either side of
midnight JST on 1 April, an amendment, another municipality and another programme item that must not
count), and the CSV exports: BOM, CRLF, Japanese headers, no names, formulas defused, audited."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.i18n.dates import fiscal_year_range, quarter_range
from server.models import AuditEvent, Case, User
from server.permissions import Actor
from server.services import exports, reports
from server.services.auth import actor_for
from tests.factories import Factory, login
from tests.factories_office import OfficeFactory, at

NOTE_CANARY = "秘密のメモ"


@dataclass
class Fixture:
    a: Case
    b: Case
    c: Case
    sup: User
    coord: User


@pytest.fixture
def fx(factory: Factory, db_factory: sessionmaker[Session]) -> Fixture:
    office = OfficeFactory(db_factory)
    w = factory.user("w1", team="北部班")
    ws = factory.user("w2", team="南部班")
    sup = factory.user("s1", role="supervisor", team="北部班")
    coord = factory.user("c1", role="coordinator", team="北部班")
    far = factory.user("w9", team="隣町班", municipality="隣町")

    # A: identified in 年度2024, contacts on both sides of 1 April 00:00 JST, connected and closed in 年度2025.
    a = factory.case(team="北部班", workers=(w,), family_name="相沢", identified_on=dt.date(2025, 2, 10),
                     referral_source="minsei_iin", status="closed", closed_reason="stable_handover",
                     closed_on=dt.date(2025, 9, 30))
    factory.contact(a, w, "NO_ANSWER", occurred_at=at(2025, 2, 15))
    factory.contact(a, w, "MET_FAMILY_ONLY", occurred_at=at(2025, 3, 20), counterpart="FAMILY")
    factory.contact(a, w, "PHONE_NO_ANSWER", method="PHONE", occurred_at=at(2025, 3, 31, 23, 30))
    factory.contact(a, w, "PHONE_PERSON", method="PHONE", occurred_at=at(2025, 4, 1, 0, 30))  # UTC: 31 March
    factory.contact(a, w, "MET_PERSON", occurred_at=at(2025, 5, 10))
    office.milestone(a, w, "CONNECTED", dt.date(2025, 6, 1), destination="地域活動支援センター")

    # B: identified in 年度2025; its first attempt was corrected from 不在 to ドア越しの会話.
    b = factory.case(team="北部班", workers=(w,), family_name="別府", identified_on=dt.date(2025, 4, 15),
                     referral_source="chiiki_houkatsu")
    b1 = factory.contact(b, w, "NO_ANSWER", occurred_at=at(2025, 4, 20), notes=NOTE_CANARY)
    office.amendment(b1, w, "SPOKE_THROUGH_DOOR", counterpart="PERSON")
    factory.contact(b, w, "LEFT_LETTER", method="LETTER", occurred_at=at(2025, 4, 25))
    factory.contact(b, w, "LEFT_LETTER", method="MEETING", counterpart="AGENCY", occurred_at=at(2025, 6, 10),
                    sharing_basis="SHIEN_KAIGI_106_6")
    office.milestone(b, w, "CONNECTED", dt.date(2025, 7, 1), destination="地域活動支援センター")
    office.milestone(b, w, "CONNECTED", dt.date(2026, 3, 31), destination="")

    # C: another team of the same city; family reached in 年度2024, the person first in 年度2025.
    c = factory.case(team="南部班", workers=(ws,), family_name="千葉", identified_on=dt.date(2024, 6, 1),
                     referral_source="family")
    factory.contact(c, ws, "PHONE_FAMILY", method="PHONE", counterpart="FAMILY", occurred_at=at(2024, 7, 1))
    factory.contact(c, ws, "MET_PERSON", occurred_at=at(2025, 4, 2))
    factory.contact(c, ws, "NO_ANSWER", method="MEETING", occurred_at=at(2025, 8, 1), sharing_basis="CONSENT")

    # Never counted: another municipality, and a case of another programme item (多機関協働, item 5).
    d = factory.case(team="隣町班", workers=(far,), identified_on=dt.date(2025, 5, 1))  # team made with w9
    factory.contact(d, far, "MET_PERSON", occurred_at=at(2025, 5, 2))
    e = factory.case(team="北部班", workers=(w,), identified_on=dt.date(2025, 5, 1), program_item=5)
    factory.contact(e, w, "MET_PERSON", occurred_at=at(2025, 5, 3))
    return Fixture(a, b, c, sup, coord)


def _actor(db_factory: sessionmaker[Session], user: User) -> Actor:
    with db_factory() as s:
        return actor_for(s, s.get(User, user.id))  # type: ignore[arg-type]


def _indicators(db_factory: sessionmaker[Session], user: User, start: dt.date, end: dt.date) -> reports.Indicators:
    actor = _actor(db_factory, user)
    with db_factory() as s:
        return reports.indicators(s, actor, start, end)


def test_fiscal_2025(fx: Fixture, db_factory: sessionmaker[Session]) -> None:
    ind = _indicators(db_factory, fx.sup, *fiscal_year_range(2025))
    assert ind.persons_supported == 3
    assert ind.contacts_total == 7
    assert {k: v for k, v in ind.contacts_by_method.items() if v} == {"PHONE": 1, "HOME_VISIT": 3, "LETTER": 1,
                                                                      "MEETING": 2}
    assert ind.persons_reached == 3  # A (phone, visit), B (the corrected attempt), C
    assert ind.families_reached == 0
    assert ind.new_cases == 1 and ind.new_by_source["chiiki_houkatsu"] == 1
    # Days from 把握 to the first contact that reached the person: A 50 (10 Feb → 1 Apr JST), B 5, C 305.
    assert ind.days_to_person_count == 3 and ind.days_to_person_median == 50
    assert ind.connected == 3 and ind.connected_by_destination == {"地域活動支援センター": 2, "": 1}
    assert ind.closed == 1 and ind.closed_by_reason["stable_handover"] == 1
    assert ind.meetings == {"shien_kaigi": 1, "jusou_kaigi": 1, "other": 0}
    months = dict(ind.monthly)
    assert months[dt.date(2025, 4, 1)] == {"person": 3, "family": 0, "none": 1}  # A4, B1, C2 / B2
    assert sum(sum(v.values()) for v in months.values()) == 7


def test_fiscal_2024(fx: Fixture, db_factory: sessionmaker[Session]) -> None:
    ind = _indicators(db_factory, fx.sup, *fiscal_year_range(2024))
    assert ind.persons_supported == 2
    assert ind.contacts_total == 4
    assert {k: v for k, v in ind.contacts_by_method.items() if v} == {"HOME_VISIT": 2, "PHONE": 2}
    assert ind.persons_reached == 0
    assert ind.families_reached == 2
    assert ind.new_cases == 2 and ind.new_by_source["minsei_iin"] == 1 and ind.new_by_source["family"] == 1
    assert ind.days_to_person_median is None and ind.days_to_person_count == 0
    assert ind.connected == 0 and ind.closed == 0
    assert ind.monthly[-1] == (dt.date(2025, 3, 1), {"person": 0, "family": 1, "none": 1})  # 23:30 JST stays


def test_quarter_and_team_scope(fx: Fixture, db_factory: sessionmaker[Session]) -> None:
    q1 = _indicators(db_factory, fx.sup, *quarter_range(2025, 1))
    assert q1.contacts_total == 6  # everything in 年度2025 except C's meeting in August
    team = _indicators(db_factory, fx.coord, *fiscal_year_range(2025))
    assert team.persons_supported == 2 and team.contacts_total == 5  # A and B only: C is another team


def _rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    text = data[3:].decode("utf-8")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_outreach_csv(client: TestClient, fx: Fixture, db_factory: sessionmaker[Session]) -> None:
    login(client, "s1")
    r = client.get("/reports/outreach.csv?fiscal_year=2025")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = _rows(r.content)
    assert rows[0] == ["年度", "期間開始", "期間終了", "指標", "内訳", "値"]
    table = {(row[3], row[4]): row[5] for row in rows[1:]}
    assert all(row[:3] == ["令和7年度", "2025-04-01", "2026-03-31"] for row in rows[1:])
    assert table[("支援対象者実人数", "")] == "3"
    assert table[("延べ件数", "合計")] == "7"
    assert table[("延べ件数", "家庭訪問")] == "3"
    assert table[("本人接触実人数", "")] == "3"
    assert table[("新規把握数", "地域包括支援センター")] == "1"
    assert table[("把握から本人接触までの日数（中央値）", "")] == "50"
    assert table[("つながった件数", "地域活動支援センター")] == "2"
    assert table[("つながった件数", "（未記入）")] == "1"
    assert table[("終結件数", "つながり先との関係が安定（引継ぎ完了）")] == "1"
    assert table[("会議", "支援会議")] == "1"
    with db_factory() as s:
        row = s.scalars(select(AuditEvent).where(AuditEvent.action == "report.export")).one()
        assert row.actor_id == fx.sup.id and row.entity_id == "outreach" and "fy=2025" in row.detail


def test_contacts_csv_has_no_names_or_notes(client: TestClient, fx: Fixture, db_factory: sessionmaker[Session]) -> None:
    login(client, "s1")
    r = client.get("/reports/contacts.csv?from=2025-04-01&to=2025-04-30")
    assert r.status_code == 200
    rows = _rows(r.content)
    assert rows[0][:4] == ["接触ID", "ケースID", "チーム", "日付"]
    body = rows[1:]
    assert len(body) == 4  # A's 00:30 call (31 March in UTC), B's corrected visit and letter, C's visit
    assert body[0][3:5] == ["2025-04-01", "00:30"] and body[0][5] == "令和7年度"
    corrected = next(row for row in body if row[1] == str(fx.b.id) and row[6] == "家庭訪問")
    assert corrected[8] == "本人とドア越し・インターホン越しに会話" and corrected[12] == "はい"
    text = r.content.decode("utf-8-sig")
    for secret in ("相沢", "別府", "千葉", "太郎", NOTE_CANARY):
        assert secret not in text
    with db_factory() as s:
        audit_row = s.scalars(select(AuditEvent).where(AuditEvent.action == "report.export")).one()
        assert audit_row.entity_id == "contacts" and "rows=4" in audit_row.detail


@pytest.mark.parametrize("query", ["from=2025-05-01&to=2025-04-01", "from=nope", "from=2020-01-01&to=2025-01-01"])
def test_contacts_csv_rejects_bad_periods(client: TestClient, fx: Fixture, query: str) -> None:
    login(client, "s1")
    assert client.get(f"/reports/contacts.csv?{query}").status_code == 422


def test_bad_fiscal_year_is_refused(client: TestClient, fx: Fixture) -> None:
    login(client, "s1")
    assert client.get("/reports/outreach.csv?fiscal_year=abc").status_code == 422
    assert client.get("/reports/outreach.csv?fiscal_year=2025&quarter=5").status_code == 422


def test_csv_defuses_formulas_and_quotes() -> None:
    ind = reports.Indicators(start=dt.date(2025, 4, 1), end=dt.date(2026, 3, 31),
                             connected_by_destination={'=HYPERLINK("http://x")': 1, "-1+1": 2, "a,b": 3})
    rows = _rows(exports.to_csv(exports.OUTREACH_HEADER, exports.outreach_rows(ind, "令和7年度")))
    details = [row[4] for row in rows if row[3] == "つながった件数"]
    assert "'=HYPERLINK(\"http://x\")" in details and "'-1+1" in details and "a,b" in details


def test_dashboard_shows_figures_and_charts(client: TestClient, fx: Fixture) -> None:
    login(client, "s1")
    page = client.get("/dashboard?fiscal_year=2025")
    assert page.status_code == 200
    assert "支援対象者実人数" in page.text and "<svg" in page.text
    assert "/reports/outreach.csv?fiscal_year=2025" in page.text
    login(client, "c1")
    team_page = client.get("/dashboard?fiscal_year=2025")
    assert team_page.status_code == 200
    assert "/reports/outreach.csv" not in team_page.text  # coordinators see figures, not the city's export
