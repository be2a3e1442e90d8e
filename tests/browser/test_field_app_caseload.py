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

from tests.browser.helpers import open_case, record_keys, sign_in, unlock, wait_synced
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


def test_a_redraw_crossing_a_navigation_draws_the_new_screen_once(factory: Factory, phones: Any) -> None:
    """A sync that ends just as the worker opens a form: its redraw of the case page and the form's
    navigation cross. Each screen is drawn across awaits (a storage read for the draft), so two drawings
    at once interleaved into one page with two contact forms (seen in CI). One form, one heading."""
    w = factory.user("worker1")
    kase = factory.case(workers=(w,), family_name="山田", given_name="一")
    page = phones("a").open()
    sign_in(page, "worker1")
    wait_synced(page)
    open_case(page, "山田")
    # The address changes and, in the same task, the records say they changed (what a sync's end says).
    page.evaluate(
        """async (id) => {
            const state = await import("/app/js/state.js");
            location.hash = `#/case/${id}/contact`;
            state.changed();
        }""",
        str(kase.id),
    )
    expect(page.get_by_role("heading", name="接触を記録")).to_be_visible()
    page.wait_for_timeout(500)  # both drawings have long finished (each takes a few ms)
    expect(page.locator("main form")).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    page.get_by_label("結果", exact=True).select_option(label="不在（応答なし）")
