"""The caseload after a first sync (Chromium): exactly the cases pulled, however many pages the reset chain
took, the same after a restart (read back from the phone's storage, not the sync's memory), and a redraw
after a later sync keeps the worker where they had scrolled to. The caseload draws its first cards with
its first frame and the rest once the page is idle (pwa/js/screens.js `FIRST_CARDS`), so these use more
cases than that."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import record_keys, sign_in, unlock, wait_synced
from tests.factories import Factory

pytestmark = pytest.mark.browser

CASES = 45  # more than FIRST_CARDS (20), so part of the list is drawn after the first frame


def shown_names(page: Page) -> list[str]:
    cards = page.locator("a.case-card")
    expect(cards).to_have_count(CASES)
    return sorted(cards.locator("span.name").all_text_contents())


def test_a_first_sync_shows_exactly_the_pulled_cases_and_so_does_a_restart(factory: Factory, phones: Any) -> None:
    w = factory.user("worker1")
    other = factory.user("worker2")
    mine = {}
    for n in range(CASES):
        mine[str(factory.case(workers=(w,), family_name="担当", given_name=f"{n:02d}").id)] = f"担当 {n:02d}"
    for n in range(3):
        factory.case(workers=(other,), family_name="他班", given_name=f"{n:02d}")
    phone = phones("a")
    page = phone.open()
    asked: list[str] = []

    def small_pages(route: Any) -> None:
        asked.append(route.request.url)
        route.continue_(url=re.sub(r"limit=\d+", "limit=10", route.request.url))

    assert phone.context is not None
    phone.context.route(re.compile(r"/api/sync/pull\?"), small_pages)
    sign_in(page, "worker1")
    wait_synced(page)
    phone.context.unroute(re.compile(r"/api/sync/pull\?"))
    assert len(asked) >= 5  # a reset chain of several pages

    assert shown_names(page) == sorted(mine.values())
    stored = [k for k in record_keys(page) if k.startswith("case:")]
    assert sorted(stored) == sorted(f"case:{i}" for i in mine)

    phone.context.set_offline(True)
    page.reload()
    unlock(page)
    expect(page.get_by_role("heading", name="担当ケース")).to_be_visible()
    assert shown_names(page) == sorted(mine.values())


def test_a_sync_redraws_the_caseload_where_the_worker_had_scrolled_to(factory: Factory, phones: Any) -> None:
    w = factory.user("worker1")
    for n in range(CASES):
        factory.case(workers=(w,), family_name="担当", given_name=f"{n:02d}")
    phone = phones("a")
    page = phone.open()
    sign_in(page, "worker1")
    wait_synced(page)
    cards = page.locator("a.case-card")
    expect(cards).to_have_count(CASES)
    cards.last.scroll_into_view_if_needed()
    keep_first = "() => { window.__firstCard = document.querySelector('a.case-card'); return window.scrollY; }"
    scrolled = page.evaluate(keep_first)
    assert scrolled > 1000

    with page.expect_response(re.compile(r"/api/sync/pull\?")):
        page.evaluate("() => window.dispatchEvent(new Event('online'))")  # an automatic sync
    # Polled from Python (the CSP forbids wait_for_function's eval): the caseload was drawn again.
    deadline = time.monotonic() + 15
    while page.evaluate("() => window.__firstCard.isConnected"):
        assert time.monotonic() < deadline, "the caseload was not redrawn after the sync"
        page.wait_for_timeout(50)
    wait_synced(page)
    expect(cards).to_have_count(CASES)
    assert abs(page.evaluate("() => window.scrollY") - scrolled) <= 2
