"""Browser fixtures: the real app on a free local port, and Debian's Chromium driven by Playwright.

The server runs in-process (uvicorn in a thread) against the test database, so a test can seed data
with the factories, read the database afterwards, and stop or restart the server. Chromium always
gets a persistent profile in a temporary folder, so a test can close the browser and reopen it with
the same IndexedDB, Cache Storage and service worker, as a phone would after a restart.
http://127.0.0.1 is a secure context, so service workers work without TLS.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from bench.browser import ARGS, CHROMIUM, PHONE
from server.app import create_app
from server.settings import Settings
from tests.browser.helpers import watch_shell


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    settings: Settings
    port: int
    app: Starlette | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    profiles: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart) the server on the same port; the app shell version survives restarts."""
        shell = getattr(self.app.state, "app_shell", None) if self.app is not None else None
        self.app = create_app(self.settings)
        if shell is not None:
            self.app.state.app_shell = shell
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None


@pytest.fixture
def live_server(database_url: str, db_factory: sessionmaker[Session], tmp_path: Path) -> Iterator[LiveServer]:
    port = _free_port()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        base_url=f"http://127.0.0.1:{port}",
        login_lock_seconds=60,
    )
    server = LiveServer(settings=settings, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# Package scope, not session: while Playwright's sync API is running it keeps an asyncio loop marked
# as running in this thread, so a later test's asyncio.run() would fail if it outlived tests/browser.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


class Phone:
    """One installation of the app: a persistent Chromium profile that can be closed and reopened."""

    def __init__(self, pw: Playwright, profile: Path, base_url: str) -> None:
        self.pw = pw
        self.profile = profile
        self.base_url = base_url
        self.context: BrowserContext | None = None
        self.page: Page | None = None

    def open(self, offline: bool = False, **kw: Any) -> Page:
        self.context = self.pw.chromium.launch_persistent_context(
            str(self.profile),
            executable_path=CHROMIUM,
            args=ARGS,  # the benchmark's Chromium: the same flags, one list (bench/browser.py)
            headless=True,
            viewport=PHONE,
            locale="ja-JP",
            timezone_id="Asia/Tokyo",
            base_url=self.base_url,
            **kw,
        )
        self.context.set_default_timeout(10_000)
        watch_shell(self.context)
        if offline:
            self.context.set_offline(True)
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        return self.page

    def close(self) -> None:
        if self.context is not None:
            self.context.close()
        self.context = None
        self.page = None


@pytest.fixture
def phones(playwright: Playwright, live_server: LiveServer, tmp_path: Path) -> Iterator[Any]:
    """`phones(name)` gives a phone (its own profile), opened lazily by the test; all closed at the end."""
    made: dict[str, Phone] = {}

    def get(name: str = "a") -> Phone:
        if name not in made:
            made[name] = Phone(playwright, tmp_path / f"profile-{name}", live_server.url)
        return made[name]

    try:
        yield get
    finally:
        for phone in made.values():
            phone.close()
