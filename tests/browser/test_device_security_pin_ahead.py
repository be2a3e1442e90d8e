"""The PIN's key is derived while the PIN is typed (js/keys.js `deriveAhead`), so 「設定」 and 「解除」
do not wait for PBKDF2 — and what is derived early is used only for the same PIN, with the salt that
is stored, and tries nothing before the press."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import PIN, sign_in, wait_synced, wait_until_offline_ready
from tests.factories import PASSWORD, Factory

pytestmark = pytest.mark.browser

# Every PBKDF2 derivation the page starts, and the first click, in the page's clock.
WATCH = """(() => {
  const seen = window.__pin = { derived: [], click: null };
  const derive = SubtleCrypto.prototype.deriveKey;
  SubtleCrypto.prototype.deriveKey = function (algorithm, ...rest) {
    if (algorithm && algorithm.name === "PBKDF2") seen.derived.push(performance.now());
    return derive.call(this, algorithm, ...rest);
  };
  document.addEventListener("click", (e) => { if (seen.click === null) seen.click = e.timeStamp; }, true);
})()"""


def _derivations(page: Page) -> int:
    return int(page.evaluate("() => window.__pin.derived.length"))


def _wait_derivations(page: Page, count: int) -> None:
    """Polled from Python (wait_for_function would need eval, which the CSP forbids)."""
    deadline = time.monotonic() + 10
    while _derivations(page) < count:
        assert time.monotonic() < deadline, f"fewer than {count} PIN derivations while typing"
        page.wait_for_timeout(20)


def _after_click(page: Page) -> int:
    """PBKDF2 derivations started after the first click."""
    return int(page.evaluate("() => window.__pin.derived.filter((t) => t >= window.__pin.click).length"))


def _reset_click(page: Page) -> None:
    page.evaluate("() => { window.__pin.click = null; }")


def test_the_pin_is_derived_while_typed_and_the_press_tries_it(
    factory: Factory,
    phones,  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    factory.case(workers=(w,), family_name="山田", given_name="花子")
    phone = phones("a")
    page = phone.open()
    page.context.add_init_script(WATCH)
    page.goto("/app/")
    page.get_by_label("ユーザー名").fill("worker1")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name="PINを設定してください")).to_be_visible()

    # Setting the PIN: derived once both fields agree, before 「設定」; the press derives nothing.
    page.get_by_label("PIN", exact=True).fill(PIN)
    assert _derivations(page) == 0  # one field alone is not a PIN yet
    page.get_by_label("PIN（確認）", exact=True).fill(PIN)
    _wait_derivations(page, 1)
    _reset_click(page)
    page.get_by_role("button", name="設定", exact=True).click()
    expect(page.get_by_role("heading", name="担当ケース")).to_be_visible()
    assert _after_click(page) == 0
    wait_synced(page)
    wait_until_offline_ready(page)

    # Reopened offline: another PIN typed first, then the right one. Each is derived as typed; the
    # press uses the right one's key, derives nothing more, and counts no wrong PIN.
    phone.close()
    page = phone.open(offline=True)
    page.context.add_init_script(WATCH)
    page.goto("/app/")
    expect(page.get_by_role("heading", name="ロック中")).to_be_visible()
    page.get_by_label("PIN", exact=True).fill("135792")
    _wait_derivations(page, 1)
    page.get_by_label("PIN", exact=True).fill(PIN)
    _wait_derivations(page, 2)
    _reset_click(page)
    page.get_by_role("button", name="解除", exact=True).click()
    expect(page.get_by_role("link", name=re.compile("山田"))).to_be_visible()
    assert _after_click(page) == 0
    failures = page.evaluate("""() => new Promise((resolve) => {
      const q = indexedDB.open("yorisoi");
      q.onsuccess = () => {
        const r = q.result.transaction("device").objectStore("device").get("keyring");
        r.onsuccess = () => { q.result.close(); resolve(r.result.failures); };
      };
    })""")
    assert failures == 0


def test_a_pin_derived_ahead_is_not_taken_for_another(
    factory: Factory,
    phones,  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    factory.case(workers=(w,), family_name="山田", given_name="花子")
    phone = phones("a")
    page = phone.open()
    sign_in(page, "worker1")
    wait_synced(page)

    phone.close()
    page = phone.open(offline=True)
    page.context.add_init_script(WATCH)
    page.goto("/app/")
    expect(page.get_by_role("heading", name="ロック中")).to_be_visible()
    # The right PIN typed and derived, then changed to a wrong one before the press: it is wrong.
    page.get_by_label("PIN", exact=True).fill(PIN)
    _wait_derivations(page, 1)
    page.get_by_label("PIN", exact=True).fill("135792")
    page.get_by_role("button", name="解除", exact=True).click()
    expect(page.get_by_text("PINが正しくありません。あと4回")).to_be_visible()
    expect(page.get_by_role("heading", name="ロック中")).to_be_visible()
    page.get_by_label("PIN", exact=True).fill(PIN)
    page.get_by_role("button", name="解除", exact=True).click()
    expect(page.get_by_role("link", name=re.compile("山田"))).to_be_visible()
