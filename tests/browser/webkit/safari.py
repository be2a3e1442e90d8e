"""A WebKit session (WebKitGTK's MiniBrowser through WebKitWebDriver) and the field app's steps in it.

The steps mirror tests/browser/helpers.py and find controls the same way, by what a person reads: a
field by its label, a button or a link by its text, a screen by its heading. Selenium has no such
locators, so one small script below finds them in the page. Every wait polls from Python and fails
with what it waited for.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select
from selenium.webdriver.webkitgtk.service import Service

from tests.browser.helpers import PIN
from tests.browser.storage_dump import DUMP_JS
from tests.factories import PASSWORD

WEBKIT_DRIVER = "/usr/bin/WebKitWebDriver"
MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
# navigator.storage (persist, estimate) is behind a feature flag in WebKitGTK; Safari has it.
FEATURES = "--features=+StorageAPI,+StorageAPIEstimate"
TIMEOUT = 15.0
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.5 Mobile/15E148 Safari/604.1"
)

# kind, name, mode ("exact" or a regular expression) -> the first visible element that matches.
FIND_JS = """
const [kind, name, mode] = arguments;
const norm = (s) => (s || "").replace(/\\s+/g, " ").trim();
const matches = mode === "exact" ? (s) => norm(s) === name : (s) => new RegExp(name).test(norm(s));
const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
if (kind === "label") {
  for (const label of document.querySelectorAll("label")) {
    if (!matches(label.textContent)) continue;
    const control = label.htmlFor ? document.getElementById(label.htmlFor) : label.querySelector("input, select");
    if (control && visible(control)) return control;
  }
  return null;
}
const selector = { button: "button", link: "a[href]", heading: "h1, h2" }[kind];
for (const el of document.querySelectorAll(selector)) if (visible(el) && matches(el.textContent)) return el;
return null;
"""

# Read the IndexedDB key/value pair the app keeps its device id under.
DEVICE_ID_JS = """
const done = arguments[arguments.length - 1];
const q = indexedDB.open("yorisoi");
q.onsuccess = () => {
  const g = q.result.transaction("device").objectStore("device").get("device_id");
  g.onsuccess = () => { q.result.close(); done(String(g.result)); };
};
q.onerror = () => done(null);
"""


class Safari:
    """One WebKit session with an empty profile of its own; a reload is how the app restarts."""

    def __init__(self, display: str, base_url: str, log: Path, user_agent: str | None = None) -> None:
        self.base_url = base_url
        options = webdriver.WebKitGTKOptions()
        options.binary_location = MINIBROWSER
        options.add_argument("--automation")
        options.add_argument(FEATURES)
        if user_agent:
            options.add_argument(f"--user-agent={user_agent}")
        service = Service(executable_path=WEBKIT_DRIVER, env={**os.environ, "DISPLAY": display}, log_output=str(log))
        with warnings.catch_warnings():
            # Selenium's own WebKitGTK constructor takes a path it has deprecated (4.51); not ours to fix.
            warnings.filterwarnings("ignore", "setting remote_server_addr", DeprecationWarning)
            self.driver = webdriver.WebKitGTK(service=service, options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(30)

    def quit(self) -> None:
        self.driver.quit()

    # ---- the page ----

    def goto(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def reload(self) -> None:
        self.driver.refresh()

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def js_async(self, script: str, *args: Any) -> Any:
        return self.driver.execute_async_script(script, *args)

    def text(self) -> str:
        return str(self.js("return document.body.innerText"))

    def wait(self, ready: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = ready()
            if value:
                return value
            if time.monotonic() > deadline:
                heading = self.js("return document.querySelector('h1')?.textContent || ''")
                raise AssertionError(f"WebKit: {what} (screen: {heading!r})")
            time.sleep(0.05)

    def find(self, kind: str, name: str, exact: bool = True) -> WebElement | None:
        found: WebElement | None = self.js(FIND_JS, kind, name, "exact" if exact else "regex")
        return found

    def get(self, kind: str, name: str, exact: bool = True) -> WebElement:
        element: WebElement = self.wait(lambda: self.find(kind, name, exact), f"no {kind} {name!r}")
        return element

    def fill(self, label: str, value: str) -> None:
        control = self.get("label", label)
        control.clear()
        control.send_keys(value)

    def choose(self, label: str, option: str) -> None:
        Select(self.get("label", label)).select_by_visible_text(option)

    def click(self, element: WebElement) -> None:
        # WebDriver scrolls a control only to the edge of the view, where the fixed bottom bar covers
        # it; a person (and Playwright) would bring it to the middle first.
        self.js("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def press(self, button: str) -> None:
        self.click(self.get("button", button))

    def follow(self, link: str) -> None:
        self.click(self.get("link", link, exact=False))

    def expect_heading(self, name: str, timeout: float = TIMEOUT) -> None:
        self.wait(lambda: self.find("heading", name), f"no heading {name!r}", timeout)

    def expect_text(self, text: str, timeout: float = TIMEOUT) -> None:
        self.wait(lambda: text in self.text(), f"no text {text!r}", timeout)

    def dump_storage(self) -> dict[str, Any]:
        """Everything in IndexedDB, Cache Storage and web storage (tests/browser/storage_dump.py)."""
        done = "arguments[arguments.length - 1]"
        run = f"({DUMP_JS})().then({done}, (e) => {done}({{error: String(e)}}));"
        result: dict[str, Any] = self.js_async(run)
        assert "error" not in result, result
        return result

    def device_id(self) -> str:
        return str(self.js_async(DEVICE_ID_JS))

    # ---- the field app's steps ----

    def sign_in(self, username: str, password: str = PASSWORD, pin: str = PIN, goto: bool = True) -> None:
        """Sign in online; set the PIN when the app asks for one (always, in a fresh profile).

        Without `goto` it signs in on the page as it is. Navigating again while the first page's
        service worker registers can leave it installing for good in WebKitGTK 2.50 (seen at ~10 ms
        after the page showed; a reload, unregister() and register() all wait behind it), so a test
        that already opened /app/ must not open it again right away."""
        if goto:
            self.goto("/app/")
        self.fill("ユーザー名", username)
        self.fill("パスワード", password)
        self.press("ログイン")
        self.wait(lambda: self.find("heading", "担当ケース") or self.find("button", "設定"), "no caseload or PIN setup")
        if self.find("button", "設定"):
            self.set_pin(pin)
        self.expect_heading("担当ケース")
        self.wait_until_offline_ready()

    def set_pin(self, pin: str = PIN) -> None:
        self.fill("PIN", pin)
        self.fill("PIN（確認）", pin)
        self.press("設定")

    def unlock(self, pin: str = PIN) -> None:
        self.expect_heading("ロック中")
        self.fill("PIN", pin)
        self.press("解除")
        self.wait(lambda: not self.find("heading", "ロック中"), "still locked")

    def wait_until_offline_ready(self) -> None:
        try:
            self.wait(
                lambda: self.js("return Boolean(navigator.serviceWorker && navigator.serviceWorker.controller)"),
                "the service worker never took control of the page",
                timeout=30,  # it precaches the whole shell first; slow on a loaded CI machine
            )
        except AssertionError:
            state = self.js_async(
                "const done = arguments[arguments.length - 1];"
                "navigator.serviceWorker.getRegistrations().then(rs => done(rs.map(r => ({scope: r.scope,"
                " active: r.active && r.active.state, waiting: r.waiting && r.waiting.state,"
                " installing: r.installing && r.installing.state}))), e => done(String(e)))"
            )
            raise AssertionError(f"the service worker never took control of the page: {state}") from None

    def sync_line(self) -> str:
        return str(self.js("return document.getElementById('sync-line')?.textContent || ''"))

    def wait_synced(self) -> None:
        """The sync that is running (if any) has finished, and it succeeded."""

        def done() -> bool:
            button = self.find("button", "今すぐ同期")
            line = self.sync_line()
            return bool(button and button.is_enabled() and "最終同期" in line and "同期中" not in line)

        self.wait(done, "the sync did not finish well")

    def sync_now(self) -> None:
        self.wait(lambda: (b := self.find("button", "今すぐ同期")) and b.is_enabled(), "「今すぐ同期」 is not enabled")
        self.press("今すぐ同期")

    def expect_unsent(self, count: int) -> None:
        self.wait(
            lambda: self.js("return document.getElementById('unsent')?.textContent") == f"未送信 {count}件",
            f"the status bar never said 未送信 {count}件",
        )

    def open_case(self, name: str) -> None:
        self.follow(re.escape(name))
        self.get("link", "接触を記録")

    def record_contact(
        self, *, outcome: str, method: str = "家庭訪問", counterpart: str = "なし", note: str = ""
    ) -> None:
        self.follow("^接触を記録$")
        self.choose("方法", method)
        self.choose("相手", counterpart)
        self.choose("結果", outcome)
        if note:
            self.fill("経過記録", note)
        self.press("保存")
        self.expect_text("保存しました")
