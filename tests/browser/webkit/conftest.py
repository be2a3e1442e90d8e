"""WebKit fixtures: Debian's WebKitGTK (Safari's engine) driven by Selenium through WebKitWebDriver,
on a private Xvfb display started here, so `make test` needs no wrapper.

The live server comes from tests/browser/conftest.py. A missing WebKit fails these tests with a clear
message, as a missing Chromium fails the Playwright ones: a flow that works only in Chromium must
never pass CI by being skipped.
"""

from __future__ import annotations

import os
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import LiveServer
from tests.browser.webkit.safari import IPHONE, MINIBROWSER, WEBKIT_DRIVER, Safari

XVFB = "/usr/bin/Xvfb"


def _missing() -> list[str]:
    return [p for p in (WEBKIT_DRIVER, MINIBROWSER, XVFB) if not os.access(p, os.X_OK)]


@pytest.fixture(scope="session")
def x_display() -> Iterator[str]:
    """A private X display; Xvfb picks a free number itself and writes it to a pipe (-displayfd)."""
    missing = _missing()
    if missing:
        pytest.fail(
            f"WebKit tests need {', '.join(missing)}: run `make browsers` as root "
            "(apt-get install webkit2gtk-driver xvfb xauth).",
            pytrace=False,
        )
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        [XVFB, "-displayfd", str(write_fd), "-nolisten", "tcp", "-screen", "0", "1280x1024x24"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], 15)
        number = os.read(read_fd, 16).decode().strip() if ready else ""
        if not number:
            pytest.fail("Xvfb did not start", pytrace=False)
        yield f":{number}"
    finally:
        os.close(read_fd)
        xvfb.terminate()
        xvfb.wait(timeout=10)


@pytest.fixture
def safari(x_display: str, live_server: LiveServer, tmp_path: Path) -> Iterator[Safari]:
    """One WebKit session (an empty profile of its own) on the live server; closed at the end."""
    browser = Safari(x_display, live_server.url, tmp_path / "webkit.log")
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def iphone(x_display: str, live_server: LiveServer, tmp_path: Path) -> Iterator[Safari]:
    """WebKit calling itself an iPhone's Safari (a tab, not the home screen)."""
    browser = Safari(x_display, live_server.url, tmp_path / "webkit.log", user_agent=IPHONE)
    try:
        yield browser
    finally:
        browser.quit()
