"""Nothing unsent is ever dropped: not by signing out, not by a server restored from a backup."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from server.models import Contact, Device, SyncMutation
from sync.cursor import rotate_epoch
from tests.browser.helpers import expect_unsent, open_case, record_contact, sign_in, wait_synced
from tests.factories import Factory

pytestmark = pytest.mark.browser


def test_signing_out_warns_about_unsent_records_and_keeps_them(
    factory: Factory, db_factory: sessionmaker[Session], phones  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    factory.case(workers=(w,), family_name="山田", given_name="太郎")
    phone = phones("a")
    page = phone.open()
    sign_in(page, "worker1")
    wait_synced(page)
    phone.context.set_offline(True)
    open_case(page, "山田 太郎")
    record_contact(page, outcome="不在（応答なし）")
    expect_unsent(page, 1)

    page.get_by_role("link", name="設定").click()
    page.get_by_role("button", name="ログアウト").click()
    dialog = page.get_by_role("dialog", name="未送信の記録があります")
    expect(dialog).to_contain_text("1件")
    dialog.get_by_role("button", name="ログアウトしない").click()
    expect(page.get_by_role("heading", name="設定")).to_be_visible()

    page.get_by_role("button", name="ログアウト").click()
    page.get_by_role("dialog").get_by_role("button", name="記録を端末に残してログアウト").click()
    expect(page.get_by_role("button", name="ログイン")).to_be_visible()
    expect(page.get_by_text("未送信の記録 1件は暗号化したまま残っており")).to_be_visible()
    expect_unsent(page, 1)
    # The case data left the phone with the sign-out; the unsent record did not.
    assert page.evaluate("() => new Promise(r => { const q = indexedDB.open('yorisoi'); q.onsuccess = () => "
                         "{ const t = q.result.transaction('records').objectStore('records').count(); "
                         "t.onsuccess = () => r(t.result); }; })") == 0

    phone.context.set_offline(False)
    sign_in(page, "worker1")
    expect_unsent(page, 0)
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 1


def test_records_lost_by_a_server_restore_are_sent_again(
    factory: Factory, db_factory: sessionmaker[Session], writer_factory: sessionmaker[Session],
    phones  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    factory.case(workers=(w,), family_name="山田", given_name="太郎")
    page = phones("a").open()
    sign_in(page, "worker1")
    wait_synced(page)
    open_case(page, "山田 太郎")
    record_contact(page, outcome="不在（応答なし）")
    expect_unsent(page, 0)
    wait_synced(page)

    # The server is restored from a backup taken before that visit reached it.
    with writer_factory() as s, s.begin():  # the app may be syncing: wait, don't fail
        s.execute(delete(SyncMutation))
        s.execute(delete(Contact))
        s.execute(update(Device).values(last_mid=0))
        rotate_epoch(s)

    page.get_by_role("button", name="今すぐ同期").click()
    wait_synced(page)
    expect_unsent(page, 0)
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 1
        assert s.scalar(select(func.count()).select_from(SyncMutation)) == 1
    expect(page.get_by_text("不在（応答なし）")).to_be_visible()
