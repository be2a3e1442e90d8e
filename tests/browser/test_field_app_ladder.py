"""The city's milestone ladder on the phone (Chromium): the milestone select offers the city's labels
and not its hidden steps, an old event on a hidden step still shows with its label, offline too, and a
change on the server reaches the phone at its next sync."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.models import MilestoneEvent, Organisation
from server.services import ladder as ladders
from tests.browser.helpers import open_case, record_contact, sign_in, unlock, wait_synced
from tests.factories import Factory
from tests.factories_office import OfficeFactory

pytestmark = pytest.mark.browser

FACE = "顔を合わせて話せた"  # the city's label for FIRST_FACE_TO_FACE
VOICE = "本人と初めて言葉を交わした（ドア越し可）"  # hidden; an old event is on it
PLAN = "本人参加で支援プラン合意"  # hidden; nobody reached it


def configure(db_factory: sessionmaker[Session], raw: dict[str, Any]) -> None:
    with db_factory() as s, s.begin():
        ladders.save(s, None, s.scalars(select(Organisation.id)).one(), raw)


def choices(page: Page) -> list[str]:
    page.get_by_role("link", name="接触を記録").click()
    select_ = page.get_by_label("達したマイルストーン")
    expect(select_).to_be_visible()
    labels: list[str] = select_.locator("option").all_inner_texts()
    page.go_back()
    return labels


def test_the_phone_offers_the_citys_ladder(
    factory: Factory, db_factory: sessionmaker[Session], phones: Any
) -> None:
    w = factory.user("worker1")
    case = factory.case(workers=(w,), family_name="山田", given_name="太郎")
    OfficeFactory(db_factory).milestone(case, w, "FIRST_VOICE_CONTACT", dt.date(2025, 5, 1))
    configure(
        db_factory,
        {
            "FIRST_FACE_TO_FACE": {"labels": {"ja": FACE, "en": "Met face to face at last"}},
            "FIRST_VOICE_CONTACT": {"hidden": True},
            "PLAN_AGREED": {"hidden": True},
        },
    )
    phone = phones("a")
    page = phone.open()
    sign_in(page, "worker1")
    wait_synced(page)
    open_case(page, "山田 太郎")
    expect(page.locator("ol.timeline").get_by_text(VOICE)).to_be_visible()  # the old event keeps its label

    offered = choices(page)
    assert FACE in offered and "本人と初めて対面" not in offered
    assert VOICE not in offered and PLAN not in offered
    assert "後退・中断（入院、関わりを望まない意思表示、関係途絶 等）" in offered

    # Offline, after a restart of the page: the ladder comes from the phone's own (sealed) copy.
    phone.context.set_offline(True)
    page.reload()
    unlock(page)  # it opens where it was: the case
    expect(page.get_by_role("link", name="接触を記録")).to_be_visible()
    offered = choices(page)
    assert FACE in offered and VOICE not in offered
    record_contact(page, outcome="本人と対面で面会", counterpart="本人", milestone=FACE)
    expect(page.locator("ol.timeline").get_by_text(FACE)).to_be_visible()
    # The stage is derived from the events, shown in the city's words.
    expect(page.locator("dt", has_text="現在の段階").locator("xpath=following-sibling::dd[1]")).to_have_text(FACE)

    # Back online: the record arrives under its id, and the city's next change reaches the phone.
    configure(db_factory, {"FIRST_FACE_TO_FACE": {"labels": {"ja": FACE}}, "FIRST_VOICE_CONTACT": {"hidden": True}})
    phone.context.set_offline(False)
    page.get_by_role("button", name="今すぐ同期").click()
    wait_synced(page)
    with db_factory() as s:
        recorded = s.scalars(select(MilestoneEvent.milestone).order_by(MilestoneEvent.reached_on)).all()
    assert recorded == ["FIRST_VOICE_CONTACT", "FIRST_FACE_TO_FACE"]
    offered = choices(page)
    assert PLAN in offered and VOICE not in offered and FACE in offered
