"""The field app and a busy server (issue 9): a 503 `server_busy` is said as such, the record stays
unsent, and the app sends it by itself after the server's Retry-After — once.

The server is really busy: it runs with one request place and a short queue
(YORISOI_MAX_CONCURRENT_REQUESTS=1, YORISOI_REQUEST_QUEUE_SECONDS), and the test holds that place
in the server's own event loop, as a running request would (tests/test_overload.py does the same
over the test client). Nothing in the browser is intercepted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from playwright.sync_api import Response, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.models import Contact, SyncMutation
from server.security.admission import RETRY_AFTER_SECONDS, Gate
from tests.browser.conftest import LiveServer
from tests.browser.helpers import expect_unsent, open_case, record_contact, sign_in, unlock, wait_synced
from tests.factories import Factory

pytestmark = pytest.mark.browser

BUSY_LINE = "混み合っている"


def _in_server_loop(server: LiveServer, fn):  # type: ignore[no-untyped-def]
    """Run `fn` (a coroutine function) in the live server's event loop and wait for its result."""
    assert server._server is not None and server._server.servers
    loop = server._server.servers[0].get_loop()
    return asyncio.run_coroutine_threadsafe(fn(), loop).result(timeout=5)


def test_a_busy_server_is_said_as_such_and_the_record_goes_after_retry_after_exactly_once(
    factory: Factory, db_factory: sessionmaker[Session], live_server: LiveServer, phones  # type: ignore[no-untyped-def]
) -> None:
    w = factory.user("worker1")
    factory.case(workers=(w,), family_name="山田", given_name="太郎")
    phone = phones("a")
    page = phone.open()
    sign_in(page, "worker1")
    wait_synced(page)

    # Offline, a visit is recorded.
    phone.context.set_offline(True)
    page.reload()
    unlock(page)
    open_case(page, "山田 太郎")
    record_contact(page)
    expect_unsent(page, 1)

    # The server comes back with one request place, and that place is taken.
    live_server.stop()
    live_server.settings = dataclasses.replace(
        live_server.settings, max_concurrent_requests=1, request_queue_seconds=0.3
    )
    live_server.start()
    assert live_server.app is not None
    gate: Gate = live_server.app.state.admission.requests

    async def hold() -> bool:
        return await gate.enter(0)

    async def release() -> None:
        gate.leave()

    assert _in_server_loop(live_server, hold)
    pushes: list[tuple[float, int]] = []

    def seen(response: Response) -> None:
        if response.url.endswith("/api/sync/push"):
            pushes.append((time.monotonic(), response.status))

    page.on("response", seen)
    phone.context.set_offline(False)  # the `online` event starts a sync

    line = page.locator("#sync-line")
    expect(line).to_contain_text(BUSY_LINE, timeout=15_000)
    expect(line).not_to_contain_text("サーバーエラー")
    expect(line).to_contain_text("記録は端末に残っています")
    expect_unsent(page, 1)
    assert [status for _, status in pushes] == [503]
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 0

    # The place comes free; nobody touches the phone: it tries again after Retry-After by itself.
    _in_server_loop(live_server, release)
    expect_unsent(page, 0)  # within 15 s: Retry-After is 5 s, the jitter at most half that again
    wait_synced(page)
    assert [status for _, status in pushes] == [503, 200]
    waited = pushes[1][0] - pushes[0][0]
    assert waited >= RETRY_AFTER_SECONDS - 0.5, f"retried after {waited:.1f} s, before Retry-After"

    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 1
        assert s.scalar(select(func.count()).select_from(SyncMutation)) == 1
    expect(page.locator("ol.timeline").get_by_text("未送信")).to_have_count(0)
