"""Steps the browser tests share. Controls are found by their accessible names, as the issue fixes them."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from tests.factories import PASSWORD

PIN = "246802"

# Storage keys of the `records` store (ids only: the values are ciphertext).
_RECORD_KEYS_JS = """() => new Promise((resolve) => {
  const q = indexedDB.open("yorisoi");
  q.onsuccess = () => {
    const r = q.result.transaction("records").objectStore("records").getAllKeys();
    r.onsuccess = () => { q.result.close(); resolve(r.result.map(String)); };
  };
})"""


def record_keys(page: Page) -> list[str]:
    """The keys of the app's sealed `records` store."""
    return list(page.evaluate(_RECORD_KEYS_JS))


def sign_in(page: Page, username: str, password: str = PASSWORD, pin: str = PIN, goto: bool = True) -> None:
    """Sign in online; set the PIN when the app asks for one (first sign-in, or a recovery)."""
    if goto:
        page.goto("/app/")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name=re.compile("^(担当ケース|PINを設定してください)$"))).to_be_visible()
    if page.get_by_role("button", name="設定", exact=True).is_visible():
        set_pin(page, pin)
    expect(page.get_by_role("heading", name="担当ケース")).to_be_visible()
    wait_until_offline_ready(page)


def set_pin(page: Page, pin: str = PIN) -> None:
    page.get_by_label("PIN", exact=True).fill(pin)
    page.get_by_label("PIN（確認）", exact=True).fill(pin)
    page.get_by_role("button", name="設定", exact=True).click()


def unlock(page: Page, pin: str = PIN) -> None:
    """The lock screen: 「PIN」 and 「解除」; the app opens where it was."""
    expect(page.get_by_role("heading", name="ロック中")).to_be_visible()
    page.get_by_label("PIN", exact=True).fill(pin)
    page.get_by_role("button", name="解除", exact=True).click()
    expect(page.get_by_role("heading", name="ロック中")).to_have_count(0)


def wait_until_offline_ready(page: Page) -> None:
    """The service worker controls the page and has precached the shell."""
    # Polled from Python: wait_for_function evaluates its predicate with eval, which the CSP forbids.
    deadline = time.monotonic() + 15
    while not page.evaluate("() => Boolean(navigator.serviceWorker && navigator.serviceWorker.controller)"):
        if time.monotonic() > deadline:
            raise AssertionError("the service worker never took control of the page")
        page.wait_for_timeout(50)


def wait_synced(page: Page) -> None:
    """The sync that is running (if any) has finished, and it succeeded."""
    expect(page.get_by_role("button", name="今すぐ同期")).to_be_enabled(timeout=15_000)
    expect(page.locator("#sync-line")).to_contain_text("最終同期", timeout=15_000)
    expect(page.locator("#sync-line")).not_to_contain_text("同期中", timeout=15_000)


def expect_unsent(page: Page, count: int) -> None:
    expect(page.get_by_text(f"未送信 {count}件", exact=True)).to_be_visible(timeout=15_000)


def open_case(page: Page, name: str) -> None:
    page.get_by_role("link", name=re.compile(name)).first.click()
    expect(page.get_by_role("link", name="接触を記録")).to_be_visible()


def record_contact(
    page: Page,
    *,
    outcome: str = "不在（応答なし）",
    method: str = "家庭訪問",
    counterpart: str = "なし",
    note: str = "",
    next_due: str = "",
    milestone: str = "",
) -> None:
    page.get_by_role("link", name="接触を記録").click()
    page.get_by_label("方法", exact=True).select_option(label=method)
    page.get_by_label("相手", exact=True).select_option(label=counterpart)
    page.get_by_label("結果", exact=True).select_option(label=outcome)
    if note:
        page.get_by_label("経過記録", exact=True).fill(note)
    if next_due:
        page.get_by_label("次回予定日", exact=True).fill(next_due)
    if milestone:
        page.get_by_label("達したマイルストーン").select_option(label=milestone)
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("保存しました")).to_be_visible()
