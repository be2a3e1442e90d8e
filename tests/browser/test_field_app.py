"""The field app in Chromium (issue 4): a day offline, a restart, and delivery exactly once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Route, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.models import Case, Contact, MilestoneEvent, Person, SyncMutation
from tests.browser.helpers import expect_unsent, open_case, record_contact, sign_in, unlock, wait_synced
from tests.factories import Factory

pytestmark = pytest.mark.browser


def test_sign_in_then_offline_reload_still_works(factory: Factory, phones) -> None:  # type: ignore[no-untyped-def]
    w = factory.user("worker1", display_name="支援員 一郎")
    factory.case(workers=(w,), family_name="山田", given_name="太郎")
    phone = phones("a")
    page = phone.open()
    sign_in(page, "worker1")
    wait_synced(page)
    expect(page.get_by_role("link", name=re.compile("山田 太郎"))).to_be_visible()
    phone.context.set_offline(True)
    page.reload()
    unlock(page)  # a reload drops the key from memory
    expect(page.get_by_role("heading", name="担当ケース")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("山田 太郎"))).to_be_visible()
    open_case(page, "山田 太郎")
    expect(page.get_by_role("button", name="今すぐ同期")).to_be_visible()
    expect_unsent(page, 0)


def _new_case_offline(page: Any) -> None:
    page.get_by_role("link", name="新規ケース").first.click()
    page.get_by_label("氏", exact=True).fill("佐藤")
    page.get_by_label("名", exact=True).fill("花子")
    page.get_by_label("市区町村").fill("テスト市")
    page.get_by_label("町字").fill("本町")
    page.get_by_label("8050世帯").check()
    page.get_by_label("把握経路").select_option(label="地域包括支援センター")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("保存しました")).to_be_visible()


def test_a_day_offline_survives_a_restart_and_reaches_the_server_exactly_once(
    factory: Factory, db_factory: sessionmaker[Session], phones  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    yamada = factory.case(workers=(w,), family_name="山田", given_name="太郎")
    suzuki = factory.case(workers=(w,), family_name="鈴木", given_name="一郎")
    phone = phones("a")
    page = phone.open()
    sign_in(page, "worker1")
    wait_synced(page)

    # In the stairwell: no signal.
    phone.context.set_offline(True)
    page.reload()
    unlock(page)
    open_case(page, "山田 太郎")
    record_contact(page, outcome="不在（応答なし）")
    record_contact(page, outcome="手紙・メモを投函／手渡し", method="手紙・メモ", next_due="2030-04-10")
    expect_unsent(page, 2)
    page.get_by_role("link", name="担当ケース").first.click()
    open_case(page, "鈴木 一郎")
    record_contact(page, outcome="家族のみと面談", counterpart="家族", note="母と玄関先で話した。")
    _new_case_offline(page)
    expect_unsent(page, 4)

    # The battery dies; the phone comes back, still without signal.
    phone.close()
    page = phone.open(offline=True)
    page.goto("/app/")
    unlock(page)  # the key left memory with the app: the PIN brings it back
    expect(page.get_by_role("heading", name="担当ケース")).to_be_visible()
    expect_unsent(page, 4)
    expect(page.get_by_role("link", name=re.compile("佐藤 花子"))).to_contain_text("未送信")
    open_case(page, "山田 太郎")
    expect(page.get_by_text("不在（応答なし）")).to_be_visible()
    expect(page.get_by_text("手紙・メモを投函／手渡し")).to_be_visible()
    expect(page.locator("ol.timeline").get_by_text("未送信")).to_have_count(2)

    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 0

    # Signal again, but the first answer is lost on the way back: the app must say it failed.
    lost: list[str] = []

    def drop_answer(route: Route) -> None:
        route.fetch()  # the server applies the batch …
        lost.append(route.request.url)
        route.abort()  # … and the phone never hears back

    phone.context.route("**/api/sync/push", drop_answer)
    phone.context.set_offline(False)
    expect(page.locator("#sync-line")).to_contain_text("同期できませんでした", timeout=15_000)
    expect_unsent(page, 4)
    assert lost
    phone.context.unroute("**/api/sync/push")

    page.get_by_role("button", name="今すぐ同期").click()
    expect_unsent(page, 0)
    wait_synced(page)
    page.get_by_role("button", name="今すぐ同期").click()
    wait_synced(page)

    with db_factory() as s:
        contacts = s.scalars(select(Contact)).all()
        assert sorted((c.case_id, c.outcome) for c in contacts) == sorted(
            [(yamada.id, "NO_ANSWER"), (yamada.id, "LEFT_LETTER"), (suzuki.id, "MET_FAMILY_ONLY")]
        )
        assert s.scalar(select(func.count()).select_from(Person).where(Person.family_name == "佐藤")) == 1
        assert s.scalar(select(func.count()).select_from(Case)) == 3
        assert s.scalar(select(func.count()).select_from(SyncMutation)) == 4
        letter = next(c for c in contacts if c.outcome == "LEFT_LETTER")
        assert str(letter.next_action_due) == "2030-04-10"

    # The service worker never stored an API answer.
    cached = page.evaluate(
        "async () => { const out = []; for (const k of await caches.keys()) "
        "for (const r of await (await caches.open(k)).keys()) out.push(new URL(r.url).pathname); return out; }"
    )
    assert cached and all(p.startswith("/app/") for p in cached)


def test_a_contact_and_its_milestone_are_recorded_in_one_step(
    factory: Factory, db_factory: sessionmaker[Session], phones  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    factory.case(workers=(w,), family_name="山田", given_name="太郎")
    page = phones("a").open()
    sign_in(page, "worker1")
    wait_synced(page)
    open_case(page, "山田 太郎")
    record_contact(page, outcome="家族のみと面談", counterpart="家族", milestone="家族と継続相談（次回の約束あり）")
    expect_unsent(page, 0)
    expect(page.locator("dl.facts")).to_contain_text("家族と継続相談")
    with db_factory() as s:
        assert s.scalar(select(MilestoneEvent.milestone)) == "FAMILY_ENGAGED"
        assert s.scalar(select(func.count()).select_from(Contact)) == 1
