"""An iPhone's Safari tab, as WebKit calling itself one (issue 10): no Background Sync, no Push, and
the advice to add the app to the home screen, on the sign-in screen, the home screen and in the
settings. The app still signs in, stores and syncs."""

from __future__ import annotations

import pytest

from tests.browser.webkit.safari import Safari
from tests.factories import Factory

pytestmark = [pytest.mark.browser, pytest.mark.webkit]

HINT = "ホーム画面に追加してください"
STORAGE = (
    "ブラウザーが端末内の記録を自動で消さないよう設定されています。",
    "ブラウザーが空き容量不足のときに端末内のデータを消すことがあります。こまめに同期してください。",
    "このブラウザーでは保護の状態を確認できません。こまめに同期してください。",
)


def _hint_says(browser: Safari) -> str:
    text = browser.js(
        "const h = document.getElementById('ios-hint-title'); return h ? h.closest('aside').innerText : ''"
    )
    return str(text)


def test_an_iphone_tab_is_told_to_add_the_app_to_the_home_screen_and_works_without_push(
    factory: Factory, iphone: Safari
) -> None:
    factory.user("worker1")
    iphone.goto("/app/")
    iphone.expect_heading(HINT)
    hint = _hint_says(iphone)
    assert "「ホーム画面に追加」" in hint and "通知" in hint and "記録" in hint

    iphone.sign_in("worker1", goto=False)
    iphone.wait_synced()
    iphone.expect_heading(HINT)  # on the home screen too
    offered = iphone.js("return {sync: 'SyncManager' in window, push: 'PushManager' in window}")
    assert offered == {"sync": False, "push": False}

    iphone.follow("^設定$")
    iphone.expect_heading("設定")
    iphone.expect_heading(HINT)
    text = iphone.text()
    assert "iPhone では、ホーム画面に追加したアプリから通知を受け取れます。" in text  # no 「通知を受け取る」 button
    assert not iphone.find("button", "通知を受け取る")
    assert len([s for s in STORAGE if s in text]) == 1  # persistence, detected, whatever WebKit answered
