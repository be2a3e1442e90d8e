"""A long visit timeline: the case page shows the newest entries and links to more, and what it says
about the whole case (last reach, stage after each milestone, corrections) still counts every entry."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
import uuid

import pytest
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.models import Case, Contact, User
from server.services.timeline import TIMELINE_PAGE
from server.vocab import OUTCOMES
from tests.factories import Factory, login
from tests.factories_office import OfficeFactory, at

EXTRA = 5  # entries beyond the first page


@pytest.fixture
def office(db_factory: sessionmaker[Session]) -> OfficeFactory:
    return OfficeFactory(db_factory)


def _ids(page: str) -> list[str]:
    return re.findall(r'id="([cm]-[0-9a-f-]{36})"', page)


def _href(page: str, label: str) -> str:
    found = re.search(r'<a href="([^"]+)">' + re.escape(label) + "</a>", page)
    assert found is not None, label
    return htmllib.unescape(found.group(1))


def _attempts(db_factory: sessionmaker[Session], case: Case, by: User, n: int) -> list[Contact]:
    """`n` unanswered home visits, one a day from 1 June 2025 (one transaction)."""
    rows = [
        Contact(id=uuid.uuid4(), case_id=case.id, occurred_at=at(2025, 6, 1) + dt.timedelta(days=i),
                method="HOME_VISIT", counterpart="NONE", outcome="NO_ANSWER", reached=OUTCOMES["NO_ANSWER"],
                recorded_by=by.id)
        for i in range(n)
    ]  # fmt: skip
    with db_factory() as s, s.begin():
        s.add_all(rows)
    return rows


def test_the_newest_page_then_more_then_all_in_either_order(
    client: TestClient, factory: Factory, office: OfficeFactory, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w,))
    reached = factory.contact(case, w, "MET_PERSON", occurred_at=at(2025, 5, 1, 15))  # the oldest entry
    ladder = office.milestone(case, w, "FAMILY_FIRST_CONTACT", dt.date(2025, 5, 2))
    attempts = _attempts(db_factory, case, w, TIMELINE_PAGE + EXTRA - 2)
    everything = [f"c-{reached.id}", f"m-{ladder.id}", *(f"c-{c.id}" for c in attempts)]
    login(client, "c1")

    first = client.get(f"/cases/{case.id}").text
    assert _ids(first) == everything[-TIMELINE_PAGE:]  # the newest page, oldest first as before
    assert f"新しい{TIMELINE_PAGE}件を表示しています（全{TIMELINE_PAGE + EXTRA}件）" in first
    # What the page says about the whole case still counts the hidden entries.
    assert "令和7年5月1日 15:00" in first  # the last reach, hidden below the page
    assert "まだ本人・家族に届いていません" not in first
    more = client.get(_href(first, f"さらに表示（{EXTRA}件）")).text
    assert _ids(more) == everything and "さらに表示" not in more
    assert _ids(client.get(_href(first, f"すべて表示（{TIMELINE_PAGE + EXTRA}件）")).text) == everything
    # The order switch keeps everything shown.
    assert _ids(client.get(_href(more, "新しい順に表示")).text) == everything[::-1]

    newest = client.get(f"/cases/{case.id}", params={"order": "desc"}).text
    assert _ids(newest) == everything[::-1][:TIMELINE_PAGE]
    link = _href(newest, f"さらに表示（{EXTRA}件）")
    assert link.endswith(f"#{everything[EXTRA]}")  # back to the oldest entry shown so far
    assert _ids(client.get(link).text) == everything[::-1]
    assert _ids(client.get(f"/cases/{case.id}", params={"show": "junk"}).text) == everything[-TIMELINE_PAGE:]


def test_a_correction_moves_a_hidden_attempt_into_the_newest_page(
    client: TestClient, factory: Factory, office: OfficeFactory, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w,))
    attempts = _attempts(db_factory, case, w, TIMELINE_PAGE + EXTRA)
    oldest = attempts[0]
    # Recorded with the wrong date: the correction makes it the newest attempt, and a reach.
    office.amendment(oldest, w, "MET_PERSON", occurred_at=at(2026, 1, 5, 9))
    login(client, "c1")
    page = client.get(f"/cases/{case.id}").text
    ids = _ids(page)
    assert len(ids) == TIMELINE_PAGE and ids[-1] == f"c-{oldest.id}"
    assert ids[:-1] == [f"c-{c.id}" for c in attempts[-(TIMELINE_PAGE - 1) :]]
    assert "当初の記録" in page and "訂正 1" in page
    assert "令和8年1月5日 09:00" in page  # the corrected time, and the last reach


def test_a_stage_after_a_milestone_counts_the_hidden_ones(
    client: TestClient, factory: Factory, office: OfficeFactory, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    factory.user("c1", role="coordinator")
    case = factory.case(workers=(w,))
    office.milestone(case, w, "FIRST_FACE_TO_FACE", dt.date(2025, 5, 1))  # hidden below the page
    _attempts(db_factory, case, w, TIMELINE_PAGE + EXTRA)
    latest = office.milestone(case, w, "FAMILY_FIRST_CONTACT", dt.date(2026, 1, 1))
    login(client, "c1")
    page = client.get(f"/cases/{case.id}").text
    assert _ids(page)[-1] == f"m-{latest.id}"
    entry = page[page.index(f'id="m-{latest.id}"') :]
    entry = entry[: entry.index("</li>")]
    # A lower rung does not lower the stage: it stays at the first face-to-face meeting.
    assert "段階: 初めて対面" in entry
