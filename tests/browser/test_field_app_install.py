"""The field app is installable (Chromium's own check) and accessible (axe on the main screens)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.helpers import set_pin, sign_in, wait_synced, wait_until_offline_ready
from tests.factories import PASSWORD, Factory

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def test_chromium_reports_no_installability_errors(live_server, phones) -> None:  # type: ignore[no-untyped-def]
    page = phones("a").open()
    page.goto("/app/")
    wait_until_offline_ready(page)
    cdp = page.context.new_cdp_session(page)
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert errors == []
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == []
    assert manifest["url"].endswith("/app/manifest.webmanifest")


def test_a_page_reloaded_while_the_first_worker_installs_is_controlled(live_server, phones) -> None:  # type: ignore[no-untyped-def]
    """clients.claim() in "activate" passes over a page still loading; that page asks to be claimed."""
    page = phones("a").open()
    held: dict[str, Route] = {}

    def hold(route: Route) -> None:
        # The worker's precache of /app/ (its install cannot finish), then the reload of the page.
        request = route.request
        if request.service_worker is not None:
            held.setdefault("precache", route)
        elif request.is_navigation_request() and "precache" in held:
            held["reload"] = route
        else:
            route.continue_()

    page.context.route("**/app/", hold)
    page.goto("/app/")
    wait_for(page, lambda: "precache" in held)
    # The page reloads while the worker installs; its load is held until the worker has activated
    # (and claimed the pages it could), so the new page commits uncontrolled.
    page.evaluate("() => { setTimeout(() => location.reload(), 0); }")
    wait_for(page, lambda: "reload" in held)
    held["precache"].continue_()
    worker = page.context.service_workers[0]
    wait_for(page, lambda: worker.evaluate("() => self.registration.active?.state") == "activated")
    held["reload"].continue_()
    expect(page.get_by_role("button", name="ログイン")).to_be_visible()
    wait_until_offline_ready(page)


def test_a_first_install_refused_by_a_busy_server_is_tried_again_after_a_sync(factory: Factory, phones) -> None:  # type: ignore[no-untyped-def]
    """The worker's precache answered 503 (no registration is left): the next sync registers again."""
    factory.user("worker1")
    page = phones("a").open()
    refusing = {"on": True, "count": 0}

    def refuse(route: Route) -> None:
        if route.request.service_worker is not None and refusing["on"]:
            refusing["count"] += 1
            route.fulfill(status=503, body="busy")
        else:
            route.continue_()

    page.context.route("**/app/", refuse)
    page.goto("/app/")
    page.get_by_label("ユーザー名").fill("worker1")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    set_pin(page)
    expect(page.get_by_role("heading", name="担当ケース")).to_be_visible()
    wait_synced(page)  # the first sync (its update check registered again: refused again)
    unregistered = "async () => !(await navigator.serviceWorker.getRegistration('/app/'))"
    wait_for(page, lambda: refusing["count"] >= 2 and page.evaluate(unregistered))
    page.wait_for_timeout(500)
    assert page.evaluate(unregistered) and not page.evaluate("() => Boolean(navigator.serviceWorker.controller)")
    refusing["on"] = False
    page.get_by_role("button", name="今すぐ同期").click()
    wait_synced(page)
    wait_until_offline_ready(page)


def wait_for(page: Page, done: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


def axe_violations(page: Page) -> list[dict[str, Any]]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(' '))}))"""
    )
    return result


def test_axe_finds_no_serious_violation_on_the_main_screens(factory: Factory, phones) -> None:  # type: ignore[no-untyped-def]
    assert AXE.exists(), "run `make test` (npm ci installs axe-core)"
    factory.user("worker1")
    # The page's CSP forbids injected scripts; axe is test tooling, so this context bypasses it.
    page = phones("a").open(bypass_csp=True)
    page.goto("/app/")
    expect(page.get_by_role("button", name="ログイン")).to_be_visible()
    screens: dict[str, list[dict[str, Any]]] = {"sign-in": axe_violations(page)}
    sign_in(page, "worker1")
    screens["caseload (empty)"] = axe_violations(page)
    page.get_by_role("link", name="新規ケース").first.click()
    expect(page.get_by_role("heading", name="新規ケース")).to_be_visible()
    screens["intake"] = axe_violations(page)
    page.get_by_label("氏", exact=True).fill("山田")
    page.get_by_label("市区町村").fill("テスト市")
    page.get_by_label("把握経路").select_option(label="民生委員")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("保存しました")).to_be_visible()
    screens["case"] = axe_violations(page)
    page.get_by_role("link", name="接触を記録").click()
    expect(page.get_by_label("結果", exact=True)).to_be_visible()
    screens["contact form"] = axe_violations(page)
    page.get_by_role("link", name="担当ケース").first.click()
    expect(page.get_by_role("link", name=re.compile("山田"))).to_be_visible()
    screens["caseload"] = axe_violations(page)
    page.get_by_role("link", name="設定").click()
    expect(page.get_by_role("heading", name="設定")).to_be_visible()
    screens["settings"] = axe_violations(page)
    assert {name: v for name, v in screens.items() if v} == {}


IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.5 Mobile/15E148 Safari/604.1"
)


def test_an_iphone_is_told_to_add_the_app_to_its_home_screen(live_server, phones) -> None:  # type: ignore[no-untyped-def]
    page = phones("a").open(user_agent=IPHONE)
    page.goto("/app/")
    hint = page.get_by_role("complementary", name="ホーム画面に追加してください")
    expect(hint).to_contain_text("ホーム画面に追加")
    expect(hint).to_contain_text("通知")


def test_english_is_one_tap_away(live_server, phones) -> None:  # type: ignore[no-untyped-def]
    page = phones("a").open()
    page.goto("/app/")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.get_by_role("button", name="日本語").click()
    expect(page.get_by_role("button", name="ログイン")).to_be_visible()
