"""The field app in Chromium: offline, restarts, exactly-once delivery (issue 4)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import sign_in
from tests.factories import Factory

pytestmark = pytest.mark.browser


def test_sign_in_then_offline_reload_still_works(factory: Factory, phones) -> None:  # type: ignore[no-untyped-def]
    w = factory.user("worker1", display_name="支援員 一郎")
    factory.case(workers=(w,), family_name="山田", given_name="太郎")
    phone = phones("a")
    page = phone.open()
    sign_in(page, "worker1")
    phone.context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", name="担当ケース")).to_be_visible()
    expect(page.get_by_role("button", name="今すぐ同期")).to_be_visible()
