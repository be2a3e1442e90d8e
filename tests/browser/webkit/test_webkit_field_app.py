"""The field app's core flows in WebKit, Safari's engine (issue 10). Chromium runs the same flows in
tests/browser/; these fail the suite when WebKit cannot do what Chromium can.

WebKit has no offline switch under WebDriver, so "no signal" here is the server stopped: the app
must open from its service worker, keep the visit sealed on the phone, and deliver it once the
server answers again. WebKitGTK, like an iPhone's Safari tab, has no Background Sync and no Push:
the app must not need them.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.models import Contact, Person, SyncMutation
from server.services import devices
from tests.browser.conftest import LiveServer
from tests.browser.webkit.safari import Safari
from tests.factories import Factory

pytestmark = [pytest.mark.browser, pytest.mark.webkit]

FAMILY, GIVEN, PHONE = "鷺ノ宮", "金糸雀", "090-4321-8765"
NOTE = "玄関先で母と話した（カナリア記録）"
CANARIES = (FAMILY, GIVEN, PHONE, "09043218765", "サギノミヤ", "カナリア")


def _no_canary(text: str) -> None:
    found = [c for c in CANARIES if c in text]
    assert found == [], f"plaintext in WebKit's storage: {found}"


def _contacts(db_factory: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with db_factory() as s:
        return [(c.outcome, c.notes) for c in s.scalars(select(Contact))]


def test_sign_in_offline_visit_restart_and_delivery_exactly_once(
    factory: Factory, db_factory: sessionmaker[Session], live_server: LiveServer, safari: Safari
) -> None:
    w = factory.user("worker1")
    factory.case(workers=(w,), family_name=FAMILY, given_name=GIVEN, kana=("サギノミヤ", "カナリア"), phone=PHONE)
    name = f"{FAMILY} {GIVEN}"

    # Sign in: a fresh profile sets its PIN, the worker registers and precaches the shell.
    safari.sign_in("worker1")
    safari.wait_synced()
    safari.get("link", name, exact=False)
    assert safari.js("return 'SyncManager' in window") is False  # so all below works without Background Sync
    assert not safari.find("heading", "ホーム画面に追加してください")  # advice for iPhones only

    # Reload: the key left memory, the PIN brings it back.
    safari.reload()
    safari.unlock()
    safari.expect_heading("担当ケース")
    safari.get("link", name, exact=False)

    # No signal: the app still opens, from the service worker.
    live_server.stop()
    safari.reload()
    safari.unlock()
    safari.expect_heading("担当ケース")
    safari.open_case(name)
    safari.record_contact(outcome="家族のみと面談", counterpart="家族", note=NOTE)
    safari.expect_unsent(1)
    safari.expect_text("同期できませんでした")  # the save tried to send it, and says it could not

    # Nothing personal in plaintext in WebKit's storage, while the visit waits in the outbox.
    dumped = safari.dump_storage()
    _no_canary(dumped["text"])
    assert dumped["counts"]["yorisoi/outbox"] == 1 and dumped["counts"]["yorisoi/records"] >= 1
    assert dumped["cached"] and all("/app/" in url and "/api/" not in url for url in dumped["cached"])

    # Restart (a reload in this engine): still locked, still pending, still readable with the PIN.
    safari.reload()
    safari.expect_heading("ロック中")
    _no_canary(safari.text())
    safari.unlock()
    safari.expect_heading(name)  # it opens where it was
    safari.expect_unsent(1)
    safari.expect_text(NOTE)
    assert _contacts(db_factory) == []

    # Signal again: 「今すぐ同期」 sends it, and sending again changes nothing.
    live_server.start()
    safari.sync_now()
    safari.expect_unsent(0)
    safari.wait_synced()
    safari.sync_now()
    safari.wait_synced()
    assert _contacts(db_factory) == [("MET_FAMILY_ONLY", NOTE)]
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(SyncMutation)) == 1
        assert s.scalar(select(func.count()).select_from(Person)) == 1


def test_a_wrong_pin_opens_nothing_and_a_revoked_phone_wipes_itself(
    factory: Factory, writer_factory: sessionmaker[Session], safari: Safari
) -> None:
    w = factory.user("worker1")
    factory.case(workers=(w,), family_name=FAMILY, given_name=GIVEN)
    safari.sign_in("worker1")
    safari.wait_synced()

    safari.reload()
    safari.expect_heading("ロック中")
    safari.fill("PIN", "975310")
    safari.press("解除")
    safari.expect_text("あと4回")
    safari.expect_heading("ロック中")
    safari.unlock()
    safari.get("link", FAMILY, exact=False)
    safari.wait_synced()  # the unlock's own sync is over: the tap below is what meets the revocation

    with writer_factory() as s, s.begin():  # the app may be writing too (its sync): wait, don't fail
        devices.revoke(s, None, uuid.UUID(safari.device_id()))
    safari.sync_now()
    safari.expect_text("この端末は利用できなくなりました")
    safari.get("button", "ログイン")
    dumped = safari.dump_storage()
    assert sum(dumped["counts"].values()) == 0, dumped["counts"]  # no keys, no records, no outbox
    assert dumped["cached"] == [] and dumped["workers"] == 0
    assert FAMILY not in safari.text()
