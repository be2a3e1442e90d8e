"""A new version of the app waits for consent and never loses a half-filled form."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from server.views.app_shell import load_shell
from tests.browser.conftest import LiveServer
from tests.browser.helpers import sign_in, unlock
from tests.factories import Factory

pytestmark = pytest.mark.browser


def _shell_caches(page: Page) -> list[str]:
    return list(page.evaluate("() => caches.keys()"))


def _wait_for(page: Page, script: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if page.evaluate(script):
                return
        except PlaywrightError as exc:  # the page is reloading: ask again
            if "context was destroyed" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {script}")
        page.wait_for_timeout(50)


def test_an_update_while_a_form_is_half_filled_loses_nothing(
    factory: Factory, live_server: LiveServer, phones  # type: ignore[no-untyped-def]
) -> None:
    factory.user("worker1")
    page = phones("a").open()
    sign_in(page, "worker1")
    old = load_shell().version
    assert _shell_caches(page) == [f"yorisoi-shell-{old}"]

    page.get_by_role("link", name="新規ケース").first.click()
    page.get_by_label("氏", exact=True).fill("佐藤")
    page.get_by_label("名", exact=True).fill("花子")
    page.get_by_label("呼ばれたい名前").fill("はなちゃん")
    page.evaluate("() => { window.__sameDocument = true; }")

    # A new version is deployed and the app looks for it.
    assert live_server.app is not None
    live_server.app.state.app_shell = load_shell().with_version("next-version")
    page.evaluate("() => navigator.serviceWorker.getRegistration('/app/').then(r => r.update())")
    _wait_for(page, "() => navigator.serviceWorker.getRegistration('/app/').then(r => Boolean(r && r.waiting))")

    # It waits: same page, same values, the old worker still in control, and the user is asked.
    expect(page.get_by_text("新しいバージョンがあります。")).to_be_visible()
    assert page.evaluate("() => window.__sameDocument === true")
    expect(page.get_by_label("氏", exact=True)).to_have_value("佐藤")
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__sameDocument === true")
    expect(page.get_by_label("名", exact=True)).to_have_value("花子")

    # The worker agrees mid-form: the app reloads on the new version and the form comes back.
    page.get_by_role("button", name="更新する").click()
    _wait_for(page, "() => window.__sameDocument !== true && document.readyState === 'complete'")
    unlock(page)  # the reload dropped the key; the PIN brings back the app where it was
    expect(page.get_by_text("入力途中の内容を復元しました。")).to_be_visible()
    expect(page.get_by_label("氏", exact=True)).to_have_value("佐藤")
    expect(page.get_by_label("名", exact=True)).to_have_value("花子")
    expect(page.get_by_label("呼ばれたい名前")).to_have_value("はなちゃん")
    _wait_for(page, "() => caches.keys().then(k => k.length === 1 && k[0] === 'yorisoi-shell-next-version')")

    page.get_by_label("市区町村").fill("テスト市")
    page.get_by_label("把握経路").select_option(label="民生委員")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("保存しました")).to_be_visible()
    expect(page.get_by_role("heading", name="佐藤 花子（はなちゃん）")).to_be_visible()
    page.get_by_role("link", name="担当ケース").first.click()
    expect(page.get_by_role("link", name="佐藤 花子（はなちゃん）")).to_be_visible()
