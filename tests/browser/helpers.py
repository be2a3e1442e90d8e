"""Steps the browser tests share. Controls are found by their accessible names, as the issue fixes them."""

from __future__ import annotations

import re
import time
import weakref
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Page, Request, expect

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


# What the page knows of its service worker, for a failure message: the registrations with the
# state of their installing, waiting and active workers, the controller, and the shell caches.
_WORKER_STATE_JS = """async () => {
  const sw = navigator.serviceWorker;
  if (!sw) return "no navigator.serviceWorker";
  const state = (w) => (w ? w.state : null);
  const regs = await sw.getRegistrations();
  return JSON.stringify({
    controller: state(sw.controller),
    registrations: regs.map((r) => ({scope: r.scope, installing: state(r.installing),
      waiting: state(r.waiting), active: state(r.active)})),
    caches: "caches" in self ? await caches.keys() : null,
    url: location.pathname + location.hash,
  });
}"""


def worker_state(page: Page) -> str:
    """The page's service worker registrations and controller, as JSON, and the shell's requests
    that failed or were refused (for failure messages)."""
    try:
        state = str(page.evaluate(_WORKER_STATE_JS))
    except Exception as exc:  # the page itself is gone or broken: say so instead
        state = f"(could not be read: {type(exc).__name__})"
    return f"{state}; shell requests failed: {_shell_failures.get(page.context, [])}"


# The app shell's requests (the page's and the service worker's precache) that failed or were
# refused, by browser context: an install whose precache fails leaves no worker at all.
_shell_failures: weakref.WeakKeyDictionary[BrowserContext, list[str]] = weakref.WeakKeyDictionary()


def watch_shell(context: BrowserContext) -> None:
    """Note the context's requests under /app/ that fail or are answered with an error (paths only)."""
    failures = _shell_failures.setdefault(context, [])

    def note(request: Request, what: str) -> None:
        path = urlsplit(request.url).path
        if path.startswith("/app/"):
            failures.append(f"{'worker' if request.service_worker else 'page'} {path}: {what}")

    context.on("requestfailed", lambda request: note(request, str(request.failure)))
    context.on("response", lambda r: note(r.request, str(r.status)) if r.status >= 400 else None)


def wait_until_offline_ready(page: Page) -> None:
    """The service worker controls the page and has precached the shell."""
    # Polled from Python: wait_for_function evaluates its predicate with eval, which the CSP forbids.
    deadline = time.monotonic() + 15
    while not page.evaluate("() => Boolean(navigator.serviceWorker && navigator.serviceWorker.controller)"):
        if time.monotonic() > deadline:
            raise AssertionError(f"the service worker never took control of the page: {worker_state(page)}")
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
