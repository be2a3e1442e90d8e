"""Data on the phone (issue 7), in Chromium: a revoked phone wipes itself at its next contact (open
or locked), a forgotten PIN loses nothing, signing out wipes, and a case leaving the worker's scope
leaves the phone."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.db import utcnow
from server.models import CaseAssignment, Contact, Device, SyncMutation
from server.services import devices
from tests.browser.helpers import expect_unsent, open_case, record_contact, sign_in, wait_synced
from tests.browser.storage_dump import dump_storage, idb_entries
from tests.factories import Factory

pytestmark = pytest.mark.browser

NOTE = "母と玄関先で話した（回復テスト）"


def _device_id(page: Page) -> uuid.UUID:
    value = page.evaluate(
        "() => new Promise(r => { const q = indexedDB.open('yorisoi'); q.onsuccess = () => {"
        " const g = q.result.transaction('device').objectStore('device').get('device_id');"
        " g.onsuccess = () => { q.result.close(); r(g.result); }; }; })"
    )
    return uuid.UUID(str(value))


def _revoke(writer_factory: sessionmaker[Session], device_id: uuid.UUID) -> None:
    with writer_factory() as s, s.begin():  # the app may be writing too (its sync): wait, don't fail
        devices.revoke(s, None, device_id)


def _expect_wiped(page: Page) -> None:
    expect(page.get_by_text("この端末は利用できなくなりました")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("button", name="ログイン")).to_be_visible()
    dumped = dump_storage(page)
    assert sum(dumped["counts"].values()) == 0, dumped["counts"]  # no keys, no records, no outbox
    assert dumped["cached"] == [] and page.evaluate("() => caches.keys()") == []
    assert dumped["workers"] == 0


def test_a_revoked_phone_wipes_itself_at_its_next_sync(
    factory: Factory,
    db_factory: sessionmaker[Session],
    writer_factory: sessionmaker[Session],
    phones,  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    factory.case(workers=(w,), family_name="山田", given_name="太郎")
    page = phones("a").open()
    sign_in(page, "worker1")
    wait_synced(page)
    assert idb_entries(page) > 0 and dump_storage(page)["cached"]
    _revoke(writer_factory, _device_id(page))

    page.get_by_role("button", name="今すぐ同期").click()
    _expect_wiped(page)
    expect(page.get_by_role("link", name=re.compile("山田"))).to_have_count(0)

    # The wiped phone is a new installation: signing in again works and registers a new device.
    sign_in(page, "worker1", goto=False)
    expect(page.get_by_role("link", name=re.compile("山田 太郎"))).to_be_visible()
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Device).where(Device.revoked_at.is_(None))) == 1


def test_a_revoked_phone_wipes_itself_even_when_locked(
    factory: Factory,
    writer_factory: sessionmaker[Session],
    phones,  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    factory.case(workers=(w,), family_name="山田", given_name="太郎")
    phone = phones("a")
    page = phone.open()
    sign_in(page, "worker1")
    wait_synced(page)
    device_id = _device_id(page)
    phone.close()  # in a pocket, on a train
    _revoke(writer_factory, device_id)

    page = phone.open()  # whoever found it opens the app, with signal, and never knows the PIN
    page.goto("/app/")
    _expect_wiped(page)


def test_a_forgotten_pin_is_recovered_online_and_the_outbox_sent_once(
    factory: Factory,
    db_factory: sessionmaker[Session],
    phones,  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    factory.case(workers=(w,), family_name="山田", given_name="太郎")
    phone = phones("a")
    page = phone.open()
    sign_in(page, "worker1")
    wait_synced(page)
    phone.context.set_offline(True)
    open_case(page, "山田 太郎")
    record_contact(page, outcome="家族のみと面談", counterpart="家族", note=NOTE)
    expect_unsent(page, 1)
    page.reload()

    for left in (4, 3, 2, 1):
        page.get_by_label("PIN", exact=True).fill("975310")
        page.get_by_role("button", name="解除").click()
        expect(page.get_by_text(f"あと{left}回")).to_be_visible()
    page.get_by_label("PIN", exact=True).fill("975310")
    page.get_by_role("button", name="解除").click()
    expect(page.get_by_text("PINを続けて間違えたため")).to_be_visible()
    expect(page.get_by_role("button", name="ログイン")).to_be_visible()
    expect_unsent(page, 1)  # still there, still sealed
    assert dump_storage(page)["counts"]["yorisoi/outbox"] == 1
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 0

    # Back in signal: an online sign-in fetches the device key, a new PIN, and the visit goes out.
    phone.context.set_offline(False)
    page.get_by_label("ユーザー名").fill("worker1")
    page.get_by_label("パスワード").fill("correct horse battery")
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_text("ログインできたので、記録を開けました。")).to_be_visible()
    page.get_by_label("PIN", exact=True).fill("802468")
    page.get_by_label("PIN（確認）", exact=True).fill("802469")
    page.get_by_role("button", name="設定", exact=True).click()
    expect(page.get_by_text("2つのPINが一致しません。")).to_be_visible()
    page.get_by_label("PIN", exact=True).fill("123456")
    page.get_by_label("PIN（確認）", exact=True).fill("123456")
    page.get_by_role("button", name="設定", exact=True).click()
    expect(page.get_by_text("推測されやすいため使えません")).to_be_visible()
    page.get_by_label("PIN", exact=True).fill("802468")
    page.get_by_label("PIN（確認）", exact=True).fill("802468")
    page.get_by_role("button", name="設定", exact=True).click()
    expect(page.get_by_role("heading", name="担当ケース")).to_be_visible()
    expect_unsent(page, 0)
    wait_synced(page)
    page.get_by_role("button", name="今すぐ同期").click()
    wait_synced(page)
    with db_factory() as s:
        assert list(s.scalars(select(Contact.notes))) == [NOTE]
        assert s.scalar(select(func.count()).select_from(SyncMutation)) == 1

    # The new PIN opens the app; the old one is gone.
    page.reload()
    page.get_by_label("PIN", exact=True).fill("802468")
    page.get_by_role("button", name="解除").click()
    expect(page.get_by_role("heading", name="担当ケース")).to_be_visible()


def test_signing_out_with_nothing_unsent_wipes_everything(
    factory: Factory,
    db_factory: sessionmaker[Session],
    phones,  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    factory.case(workers=(w,), family_name="山田", given_name="太郎")
    page = phones("a").open()
    sign_in(page, "worker1")
    wait_synced(page)
    device_id = _device_id(page)
    page.get_by_role("link", name="設定").click()
    page.get_by_role("button", name="ログアウト").click()
    expect(page.get_by_text("ログアウトしました。この端末の記録はすべて消去しました。")).to_be_visible()
    dumped = dump_storage(page)
    assert sum(dumped["counts"].values()) == 0 and dumped["cached"] == [] and dumped["workers"] == 0
    with db_factory() as s:
        device = s.get(Device, device_id)
        assert device is not None and device.wrapping_key is None  # the server half is gone too


def test_a_case_leaving_the_scope_leaves_the_phone(
    factory: Factory,
    db_factory: sessionmaker[Session], writer_factory: sessionmaker[Session],
    phones,  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    kept = factory.case(workers=(w,), family_name="山田", given_name="太郎")
    leaving = factory.case(workers=(w,), family_name="鈴木", given_name="一郎")
    contact = factory.contact(leaving, w, notes="鈴木さん宅の記録")
    page = phones("a").open()
    sign_in(page, "worker1")
    wait_synced(page)
    open_case(page, "鈴木 一郎")
    expect(page.get_by_text("鈴木さん宅の記録")).to_be_visible()
    page.get_by_role("link", name="接触を記録").click()
    page.get_by_label("経過記録", exact=True).fill("書きかけ")
    page.wait_for_timeout(600)
    keys_before = _keys(page)
    # The contact is kept in its case's history (one sealed record per case: pwa/js/history.js).
    assert f"case:{leaving.id}" in keys_before and f"history:{leaving.id}" in keys_before
    assert f"contact:{leaving.id}" in keys_before  # the draft

    with writer_factory() as s, s.begin():
        # Through the ORM, as the app does: the commit stamps the scope change for the phones' pull.
        for a in s.scalars(select(CaseAssignment).where(CaseAssignment.case_id == leaving.id)):
            a.ended_at = utcnow()
    page.get_by_role("link", name="担当ケース").first.click()
    page.get_by_role("button", name="今すぐ同期").click()
    wait_synced(page)
    expect(page.get_by_role("link", name=re.compile("鈴木"))).to_have_count(0)
    keys_after = _keys(page)
    assert not [k for k in keys_after if str(leaving.id) in k or str(contact.id) in k]
    assert f"case:{kept.id}" in keys_after


def _keys(page: Page) -> list[str]:
    """Every key of the sealed stores (ids only: the values are ciphertext)."""
    return list(
        page.evaluate(
            "() => new Promise(r => { const q = indexedDB.open('yorisoi'); q.onsuccess = () => {"
            " const db = q.result; const out = []; const names = ['records', 'drafts', 'attention', 'meta'];"
            " const t = db.transaction(names); for (const n of names) t.objectStore(n).getAllKeys().onsuccess ="
            " (e) => out.push(...e.target.result.map(String)); t.oncomplete = () => { db.close(); r(out); }; }; })"
        )
    )


def test_another_user_cannot_open_or_take_over_unsent_records(
    factory: Factory,
    db_factory: sessionmaker[Session],
    phones,  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    factory.user("worker2")
    factory.case(workers=(w,), family_name="山田", given_name="太郎")
    phone = phones("a")
    page = phone.open()
    sign_in(page, "worker1")
    wait_synced(page)
    phone.context.set_offline(True)
    open_case(page, "山田 太郎")
    record_contact(page, outcome="不在（応答なし）")
    page.get_by_role("link", name="設定").click()
    page.get_by_role("button", name="ログアウト").click()
    page.get_by_role("dialog").get_by_role("button", name="記録を端末に残してログアウト").click()
    phone.context.set_offline(False)

    # Another worker on this phone: refused before anything is sent, and nothing is wiped.
    page.get_by_label("ユーザー名").fill("worker2")
    page.get_by_label("パスワード").fill("correct horse battery")
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_text("別の職員の未送信の記録があります")).to_be_visible()
    assert dump_storage(page)["counts"]["yorisoi/outbox"] == 1
    # The owner signs in, sets a new PIN, and the record goes out; then the other worker may.
    sign_in(page, "worker1", goto=False)
    expect_unsent(page, 0)
    page.get_by_role("link", name="設定").click()
    page.get_by_role("button", name="ログアウト").click()
    expect(page.get_by_text("この端末の記録はすべて消去しました")).to_be_visible()
    sign_in(page, "worker2", goto=False)
    expect(page.get_by_role("link", name=re.compile("山田"))).to_have_count(0)
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 1
        assert s.scalar(select(func.count()).select_from(Device)) == 2
