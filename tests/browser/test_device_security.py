"""Data on the phone (issue 7), in Chromium: nothing personal in plaintext anywhere in the browser's
storage, a wrong PIN decrypts nothing, and the app locks itself under a controlled clock."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from server.models import Person
from tests.browser.helpers import PIN, open_case, record_contact, sign_in, unlock, wait_synced
from tests.browser.storage_dump import dump_storage
from tests.factories import Factory

pytestmark = pytest.mark.browser

FAMILY, GIVEN, CALLED = "鷺ノ宮", "金糸雀", "カナリアさん"
PHONE = "090-4321-8765"
NOTE = "玄関先で鷺ノ宮さんの母と話した（カナリア記録）"
CANARIES = (FAMILY, GIVEN, CALLED, "カナリア", PHONE, "09043218765", "サギノミヤ", "新規鳩山")

# Try a PIN against what is stored, the way an attacker with a copy of the profile would.
TRY_PIN_JS = """
async (pin) => {
  const req = (r) => new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  const db = await req(indexedDB.open("yorisoi"));
  const ring = await req(db.transaction("device").objectStore("device").get("keyring"));
  const sealed = await req(db.transaction("records").objectStore("records").getAll());
  db.close();
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(pin), "PBKDF2", false, ["deriveKey"]);
  const kek = await crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt: ring.pin.salt, iterations: ring.pin.iterations },
    base, { name: "AES-KW", length: 256 }, false, ["unwrapKey"]);
  let key;
  try {
    key = await crypto.subtle.unwrapKey("raw", ring.pin.wrapped, kek, "AES-KW", "AES-GCM", false, ["decrypt"]);
  } catch (e) {
    return { unwrapped: false, error: e.name, iterations: ring.pin.iterations, opened: [] };
  }
  const opened = [];
  for (const s of sealed) {
    opened.push(new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv: s.iv }, key, s.ct)));
  }
  return { unwrapped: true, iterations: ring.pin.iterations, opened };
}
"""


def _seed(factory: Factory, db_factory: sessionmaker[Session]) -> Any:
    w = factory.user("worker1")
    kana = ("サギノミヤ", "カナリア")
    case = factory.case(workers=(w,), family_name=FAMILY, given_name=GIVEN, kana=kana, phone=PHONE)
    with db_factory() as s, s.begin():
        s.execute(update(Person).where(Person.id == case.person_id).values(preferred_name=CALLED))
    return case


def _no_canary(text: str) -> None:
    found = [c for c in CANARIES if c in text]
    assert found == [], f"plaintext on the phone: {found}"


def _new_case_offline(page: Page) -> None:
    page.get_by_role("link", name="新規ケース").first.click()
    page.get_by_label("氏", exact=True).fill("新規鳩山")
    page.get_by_label("名", exact=True).fill(GIVEN)
    page.get_by_label("電話番号").fill(PHONE)
    page.get_by_label("市区町村").fill("テスト市")
    page.get_by_label("把握経路").select_option(label="地域包括支援センター")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("保存しました")).to_be_visible()


def test_nothing_personal_is_stored_in_plaintext(
    factory: Factory,
    db_factory: sessionmaker[Session],
    phones,  # type: ignore[no-untyped-def]
) -> None:
    _seed(factory, db_factory)
    phone = phones("a")
    page = phone.open()
    sign_in(page, "worker1")
    wait_synced(page)
    phone.context.set_offline(True)
    open_case(page, f"{FAMILY} {GIVEN}")
    expect(page.get_by_role("heading", name=re.compile(CALLED))).to_be_visible()  # the app shows it…
    record_contact(page, outcome="家族のみと面談", counterpart="家族", note=NOTE)
    _new_case_offline(page)
    page.get_by_role("link", name="新規ケース").first.click()
    page.get_by_label("氏", exact=True).fill(f"{FAMILY}下書き")  # a draft, left half-filled
    page.wait_for_timeout(600)

    dumped = dump_storage(page)
    _no_canary(dumped["text"])  # … but nothing on disk says it
    counts = dumped["counts"]
    assert counts["yorisoi/records"] >= 2 and counts["yorisoi/outbox"] == 2 and counts["yorisoi/drafts"] == 1
    assert counts["yorisoi/meta"] == 2
    assert dumped["cached"] and all("/app/" in url and "/api/" not in url for url in dumped["cached"])

    # Closed and reopened (the key leaves memory with the app): still nothing, and the lock screen.
    phone.close()
    page = phone.open(offline=True)
    page.goto("/app/")
    expect(page.get_by_role("heading", name="ロック中")).to_be_visible()
    _no_canary(page.content())
    _no_canary(dump_storage(page)["text"])
    unlock(page)
    expect(page.get_by_role("link", name=re.compile(FAMILY)).first).to_be_visible()


def test_a_wrong_pin_decrypts_nothing(
    factory: Factory,
    db_factory: sessionmaker[Session],
    phones,  # type: ignore[no-untyped-def]
) -> None:
    _seed(factory, db_factory)
    page = phones("a").open()
    sign_in(page, "worker1")
    wait_synced(page)

    wrong = page.evaluate(TRY_PIN_JS, "135792")
    assert wrong == {"unwrapped": False, "error": "OperationError", "iterations": 600_000, "opened": []}
    right = page.evaluate(TRY_PIN_JS, PIN)
    assert right["unwrapped"] and any(FAMILY in text for text in right["opened"])  # the test can tell

    page.reload()
    page.get_by_label("PIN", exact=True).fill("135792")
    page.get_by_role("button", name="解除").click()
    expect(page.get_by_text("PINが正しくありません。あと4回")).to_be_visible()
    expect(page.get_by_role("heading", name="ロック中")).to_be_visible()
    _no_canary(page.content())
    unlock(page)
    expect(page.get_by_role("link", name=re.compile(FAMILY))).to_be_visible()


def test_the_app_locks_when_idle_or_in_the_background_and_keeps_the_form(
    factory: Factory,
    db_factory: sessionmaker[Session],
    phones,  # type: ignore[no-untyped-def]
) -> None:
    _seed(factory, db_factory)
    page = phones("a").open()
    page.clock.install()
    sign_in(page, "worker1")
    wait_synced(page)
    open_case(page, f"{FAMILY} {GIVEN}")
    page.get_by_role("link", name="接触を記録").click()
    page.get_by_label("経過記録", exact=True).fill(NOTE)
    page.wait_for_timeout(600)  # the draft is saved (sealed) as it is typed

    page.clock.fast_forward("04:00")
    expect(page.get_by_label("経過記録", exact=True)).to_have_value(NOTE)  # 4 minutes: still open
    page.clock.fast_forward("01:30")
    expect(page.get_by_role("heading", name="ロック中")).to_be_visible()
    expect(page.get_by_text("しばらく操作がなかったため、ロックしました。")).to_be_visible()
    _no_canary(page.content())
    unlock(page)
    expect(page.get_by_text("入力途中の内容を復元しました。")).to_be_visible()
    expect(page.get_by_label("経過記録", exact=True)).to_have_value(NOTE)

    # In the background for longer than a minute (another app, the screen off): locked too.
    page.evaluate(
        "() => { Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});"
        " document.dispatchEvent(new Event('visibilitychange')); }"
    )
    page.clock.fast_forward("01:05")
    page.evaluate(
        "() => { Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});"
        " document.dispatchEvent(new Event('visibilitychange')); }"
    )
    expect(page.get_by_role("heading", name="ロック中")).to_be_visible()
    _no_canary(page.content())


def test_after_the_offline_limit_only_an_online_sign_in_unlocks(
    factory: Factory,
    db_factory: sessionmaker[Session],
    phones,  # type: ignore[no-untyped-def]
) -> None:
    _seed(factory, db_factory)
    phone = phones("a")
    page = phone.open()
    page.clock.install()
    sign_in(page, "worker1")
    wait_synced(page)
    phone.context.set_offline(True)
    page.get_by_role("link", name="設定").click()
    page.get_by_role("button", name="今すぐロック").click()
    expect(page.get_by_role("heading", name="ロック中")).to_be_visible()
    page.clock.fast_forward(8 * 86_400_000)  # eight days without a sync, the lock screen still up
    page.get_by_label("PIN", exact=True).fill(PIN)
    page.get_by_role("button", name="解除").click()
    expect(page.get_by_text("最後の同期から7日以上たったため")).to_be_visible()
    expect(page.get_by_role("button", name="ログイン")).to_be_visible()

    phone.context.set_offline(False)
    sign_in(page, "worker1", goto=False)  # the PIN is still set: no new one is asked for
    expect(page.get_by_role("link", name=re.compile(FAMILY))).to_be_visible()
    wait_synced(page)
