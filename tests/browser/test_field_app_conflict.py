"""Conflicts and rejections come back to the phone and are shown on their record, with what to do."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.db import utcnow
from server.models import CaseAssignment, SyncMutation
from tests.browser.helpers import expect_unsent, open_case, record_contact, sign_in, wait_synced
from tests.factories import Factory

pytestmark = pytest.mark.browser


def _change_next_due(page: Page, due: str, action: str) -> None:
    page.get_by_role("link", name="次回の予定を変更").click()
    page.get_by_label("次回の予定", exact=True).fill(action)
    page.get_by_label("次回予定日", exact=True).fill(due)
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("保存しました")).to_be_visible()


def test_two_phones_changing_the_same_field_show_a_conflict(factory: Factory, phones) -> None:  # type: ignore[no-untyped-def]
    w1 = factory.user("worker1")
    w2 = factory.user("worker2")
    factory.case(workers=(w1, w2), family_name="山田", given_name="太郎")
    a, b = phones("a"), phones("b")
    page_a, page_b = a.open(), b.open()
    for page, name in ((page_a, "worker1"), (page_b, "worker2")):
        sign_in(page, name)
        wait_synced(page)
        open_case(page, "山田 太郎")

    # Phone B is offline in a stairwell and plans Thursday; phone A plans Friday and syncs first.
    b.context.set_offline(True)
    _change_next_due(page_b, "2030-05-09", "木曜に再訪問")
    expect_unsent(page_b, 1)
    _change_next_due(page_a, "2030-05-10", "金曜に再訪問")
    expect_unsent(page_a, 0)
    wait_synced(page_a)

    b.context.set_offline(False)
    page_b.get_by_role("button", name="今すぐ同期").click()
    expect_unsent(page_b, 0)
    problem = page_b.get_by_role("group", name="他の変更と重なりました")
    expect(problem).to_be_visible(timeout=15_000)
    expect(problem).to_contain_text("次回予定日")
    expect(problem).to_contain_text(re.compile("5月9日"))
    expect(problem).to_contain_text(re.compile("5月10日"))
    expect(problem.get_by_role("button", name="この端末の値で上書き")).to_be_visible()
    # The case now shows the server's value, and the caseload flags the case.
    expect(page_b.locator("dl.facts")).to_contain_text("金曜に再訪問")
    page_b.get_by_role("link", name="担当ケース").first.click()
    expect(page_b.get_by_role("link", name=re.compile("山田 太郎"))).to_contain_text("要確認")


def test_a_rejected_record_is_shown_with_what_to_do(
    factory: Factory, db_factory: sessionmaker[Session], phones  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    kase = factory.case(workers=(w,), family_name="山田", given_name="太郎")
    phone = phones("a")
    page = phone.open()
    sign_in(page, "worker1")
    wait_synced(page)
    phone.context.set_offline(True)
    # While the phone is offline, the coordinator hands the case to someone else …
    with db_factory() as s, s.begin():
        ended = utcnow() - dt.timedelta(hours=1)
        # Through the ORM, as the app does: the commit stamps the scope change for the phones' pull.
        for a in s.scalars(select(CaseAssignment).where(CaseAssignment.case_id == kase.id)):
            a.ended_at = ended
    # … and the worker records a visit that happened after that.
    open_case(page, "山田 太郎")
    record_contact(page, outcome="不在（応答なし）")
    expect_unsent(page, 1)
    phone.context.set_offline(False)
    page.get_by_role("button", name="今すぐ同期").click()
    expect_unsent(page, 0)
    # The case has left the phone; the refused contact has not vanished silently.
    page.get_by_role("link", name="担当ケース").first.click()
    problem = page.get_by_role("group", name="サーバーが受け付けませんでした")
    expect(problem).to_contain_text("接触記録")
    expect(problem).to_contain_text("コーディネーター")
    problem.get_by_role("button", name="確認しました").click()
    expect(problem).to_have_count(0)
    with db_factory() as s:
        kept = s.scalars(select(SyncMutation)).one()
        assert kept.status == "rejected" and kept.args is not None
