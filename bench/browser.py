"""The field app in Chromium with 4× CPU throttling (a mid-range phone): the initial sync of a
worker's caseload, a cold offline start, saving a contact, the storage used, the shell's size.

Debian's Chromium (/usr/bin/chromium) through Playwright, as tests/browser do — nothing is
downloaded. The server is `bench.live` (a real uvicorn process, not throttled). Throttling is the
DevTools `Emulation.setCPUThrottlingRate` on the page (the service worker is not throttled).

Device security shapes what "cold start" means: the app keeps its records encrypted under a data
key that only the PIN (or an online sign-in) unwraps, so a reopened app shows the lock screen
first. The cold start is measured as two timed parts with the worker's typing left out: opening
the app offline until the lock screen is drawn, and 「解除」 until the caseload is drawn (the
records decrypted and listed).

Every timed step is stamped in the page (performance.now(): a capture click listener, a
MutationObserver, the first frame after the awaited screen), and Python waits for it with one
evaluate that awaits a promise. Playwright's `expect` is not used while a step is timed: each of
its polls that does not match yet walks the whole page in the page's own (throttled) main thread —
for an error message it may need — and with 252 case cards on screen that took seconds, which the
figures then counted as the app's.
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
from playwright.sync_api import BrowserContext, CDPSession, Page, Playwright, ViewportSize, expect, sync_playwright

from bench.generate import Population
from bench.live import Served
from bench.measure import Figure

CHROMIUM = "/usr/bin/chromium"
# Also the browser tests' flags (tests/browser/conftest.py). The last flag: desktop Chromium (156)
# starts two WebUI pages of its own omnibox popup (chrome://omnibox-popup.top-chrome, in renderers
# of their own) with every new browser, headless too. Each cold start is a new browser, and on this
# 2-core machine their work competed with the measured page (≈ 1.3 s of CPU in one traced start).
# A phone's browser has no such desktop UI.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup"]  # fmt: skip
PHONE: ViewportSize = {"width": 360, "height": 640}
THROTTLE = 4
PIN = "246802"
SYNC_TIMEOUT_MS = 240_000
WAIT_MS = 60_000  # any other step (throttled, on a shared machine)
COLD_STARTS = 3  # each in a new browser
SAVES = 3  # at most (--runs 1: one)
PWA_SW = Path(__file__).resolve().parent.parent / "pwa" / "service-worker.js"

# In every page of a timed browser (an init script): a promise per awaited screen, resolved with
# the time (ms since navigation start) of the first frame painted after it appeared, and the time
# of the first click. A screen counts once its heading is drawn and, for the caseload, its first
# case card; the sync once the status line says 「最終同期」 and 「今すぐ同期」 can be pressed again.
WATCH_SCREENS = """(() => {
  const stamps = window.__bench = { click: null };
  const waits = {};
  const done = {};
  window.__benchWait = (name, ms) => Promise.race([
    waits[name] || (waits[name] = new Promise((resolve) => { done[name] = resolve; })),
    new Promise((_, reject) => setTimeout(() => reject(new Error("no " + name + " within " + ms + " ms")), ms)),
  ]);
  const ready = {
    lock: () => document.querySelector("h1")?.textContent === "ロック中",
    caseload: () => document.querySelector("h1")?.textContent === "担当ケース" && document.querySelector("a.case-card"),
    synced: () => {
      const line = document.getElementById("sync-line");
      const button = document.querySelector("button.sync-now");
      return line && line.textContent.includes("最終同期") && button && !button.disabled;
    },
  };
  // The event's own time: when the browser took the click, a busy main thread's delay included.
  document.addEventListener("click", (e) => { if (stamps.click === null) stamps.click = e.timeStamp; }, true);
  const check = () => {
    for (const name of Object.keys(ready)) {
      if (name in stamps || !ready[name]()) continue;
      stamps[name] = null;
      requestAnimationFrame(() => setTimeout(() => {
        stamps[name] = performance.now();
        if (!waits[name]) waits[name] = Promise.resolve(stamps[name]);
        else done[name](stamps[name]);
      }, 0));
    }
  };
  new MutationObserver(check).observe(document,
    { childList: true, subtree: true, characterData: true, attributes: true });
})()"""

# In the page: the time of the click on 「保存」 and of the first frame after 「保存しました」 appears.
WATCH_SAVE = """() => {
  window.__benchClick = null; window.__benchSaved = null;
  if (window.__benchWatching) return;
  window.__benchWatching = true;
  document.addEventListener("click", () => {
    if (window.__benchClick === null) window.__benchClick = performance.now();
  }, true);
  new MutationObserver(() => {
    const toast = document.querySelector(".toast");
    const shown = toast && toast.textContent.includes("保存しました");
    if (window.__benchClick !== null && window.__benchSaved === null && shown) {
      window.__benchSaved = -1;
      requestAnimationFrame(() => { window.__benchSaved = performance.now(); });
    }
  }).observe(document.body, { childList: true, subtree: true, characterData: true });
}"""


class Network:
    """Requests to /api/sync/ seen by DevTools: bytes on the wire and time in flight."""

    def __init__(self, cdp: CDPSession) -> None:
        self.started: dict[str, float] = {}
        self.bytes = 0
        self.seconds = 0.0
        self.requests = 0
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.loadingFinished", self._finished)
        # No response bodies kept for DevTools: with its default buffers the page's own main thread
        # decoded every JSON answer again for the inspector (≈ 0.2 s of CPU over a first sync,
        # throttled), which the figure then counted as the app's. Sizes and times are reported alike.
        cdp.send("Network.enable", {"maxTotalBufferSize": 0, "maxResourceBufferSize": 0})

    def _sent(self, e: dict[str, Any]) -> None:
        if "/api/sync/" in e["request"]["url"]:
            self.started[e["requestId"]] = e["timestamp"]

    def _finished(self, e: dict[str, Any]) -> None:
        t0 = self.started.pop(e["requestId"], None)
        if t0 is not None:
            self.bytes += int(e["encodedDataLength"])
            self.seconds += e["timestamp"] - t0
            self.requests += 1


def open_phone(
    pw: Playwright, profile: Path, base_url: str, offline: bool = False
) -> tuple[BrowserContext, Page, CDPSession]:
    """A phone-sized Chromium with a persistent profile; its first page throttled 4×."""
    context = pw.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=ARGS, headless=True, viewport=PHONE, locale="ja-JP",
        timezone_id="Asia/Tokyo", base_url=base_url, offline=offline,
    )  # fmt: skip
    context.set_default_timeout(60_000)
    context.add_init_script(WATCH_SCREENS)
    page = context.pages[0] if context.pages else context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": THROTTLE})
    return context, page, cdp


def shell_urls() -> list[str]:
    """The files the service worker precaches (its SHELL list), and the worker itself."""
    source = PWA_SW.read_text(encoding="utf-8")
    listed = re.search(r"const SHELL = \[(.*?)\];", source, re.S)
    if listed is None:
        raise RuntimeError("no SHELL list in the service worker")
    return [*re.findall(r'"(/app/[^"]*)"', listed.group(1)), "/app/service-worker.js"]


def shell_size(url: str) -> tuple[int, int]:
    """(bytes, gzipped bytes) of the app shell as served; gzip level 6, file by file (as a
    compressing reverse proxy would send them; the app itself does not compress)."""
    raw = packed = 0
    with httpx.Client(base_url=url, timeout=30) as c:
        for path in shell_urls():
            r = c.get(path)
            r.raise_for_status()
            raw += len(r.content)
            packed += len(gzip.compress(r.content, compresslevel=6))
    return raw, packed


def _stamp(cdp: CDPSession, name: str, timeout_ms: int = WAIT_MS) -> float:
    """The page's time (ms since navigation start) of the first frame after screen `name` appeared.

    Awaited with DevTools' own `Runtime.evaluate`, not Playwright's `page.evaluate`: the first
    `page.evaluate` in a new document installs Playwright's utility script in it, which the page's
    throttled main thread parses and runs while the app is still loading — ≈ 0.1 s of the lock
    screen's time in a CPU profile (`Profiler`, self time of `UtilityScript`) that the app never spends.
    Right after a navigation commits, the new document's init script may not have run yet: tried
    again until `__benchWait` exists."""
    expression = f"window.__benchWait({json.dumps(name)}, {int(timeout_ms)})"
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        answer = cdp.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" not in answer:
            return float(answer["result"]["value"])
        if time.monotonic() > deadline or "__benchWait is not a function" not in json.dumps(answer["exceptionDetails"]):
            raise RuntimeError(f"no {name} stamp: {answer['exceptionDetails'].get('exception', {}).get('description')}")
        time.sleep(0.01)


def _clicked(page: Page) -> float:
    """The page's time of the first click since the page (or the last `_reset_click`) started."""
    return float(page.evaluate("() => window.__bench.click"))


def _reset_click(page: Page) -> None:
    page.evaluate("() => { window.__bench.click = null; }")


def initial_sync(page: Page, cdp: CDPSession, net: Network, username: str, password: str) -> tuple[float, float]:
    """Sign in, set the PIN, and time from 「設定」 until the first sync has finished: (wall ms,
    ms in the browser = wall minus the sync requests' time in flight). Both ends stamped in the page."""
    page.goto("/app/")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name="PINを設定してください")).to_be_visible(timeout=WAIT_MS)
    page.get_by_label("PIN", exact=True).fill(PIN)
    page.get_by_label("PIN（確認）", exact=True).fill(PIN)
    _reset_click(page)
    page.get_by_role("button", name="設定", exact=True).click()
    done = _stamp(cdp, "synced", SYNC_TIMEOUT_MS)
    wall = done - _clicked(page)
    line = page.locator("#sync-line")
    if page.locator("#sync-line.error").count():
        raise RuntimeError(f"the initial sync failed: {line.text_content()}")
    expect(page.get_by_role("heading", name="担当ケース")).to_be_visible(timeout=WAIT_MS)
    return wall, wall - net.seconds * 1000


def storage_mb(page: Page) -> float:
    usage = page.evaluate("async () => (await navigator.storage.estimate()).usage")
    return float(usage) / 1e6


def cold_start(page: Page, cdp: CDPSession) -> tuple[float, float]:
    """Offline: (open → lock screen drawn, 「解除」 → caseload drawn), in ms, stamped in the page: the
    first from navigation start, the second from the click."""
    page.goto("/app/", wait_until="commit")
    to_lock = _stamp(cdp, "lock")
    page.get_by_label("PIN", exact=True).fill(PIN)
    _reset_click(page)
    page.get_by_role("button", name="解除", exact=True).click()
    drawn = _stamp(cdp, "caseload")
    expect(page.get_by_role("heading", name="担当ケース")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("a.case-card").first).to_be_visible(timeout=WAIT_MS)
    return to_lock, drawn - _clicked(page)


def save_contact(page: Page, n: int) -> float:
    """Record a contact on the n-th case of the caseload; ms from the click on 「保存」 to the first
    frame showing 「保存しました」 (timed in the page)."""
    page.goto("/app/#/")
    page.locator("a.case-card").nth(n).click()
    page.get_by_role("link", name="接触を記録").click()
    page.get_by_label("方法", exact=True).select_option(label="家庭訪問")
    page.get_by_label("相手", exact=True).select_option(label="なし")
    page.get_by_label("結果", exact=True).select_option(label="不在（応答なし）")
    page.evaluate(WATCH_SAVE)
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("保存しました")).to_be_visible(timeout=WAIT_MS)
    deadline = time.monotonic() + 10
    while (stamps := page.evaluate("() => [window.__benchClick, window.__benchSaved]"))[1] in (None, -1):
        if time.monotonic() > deadline:
            raise RuntimeError("「保存しました」 was never painted")
        page.wait_for_timeout(20)
    # The app moves to the case page only after that frame: wait for it, or the next save's goto("#/")
    # may come first and be overtaken by it (the caseload never shown, its n-th card never found).
    expect(page.get_by_role("link", name="接触を記録")).to_be_visible(timeout=WAIT_MS)
    return float(stamps[1] - stamps[0])


def browser_figures(served: Served, pop: Population, runs: int) -> list[Figure]:
    raw, packed = shell_size(served.url)
    print(f"  app shell: {len(shell_urls())} files, {raw / 1000:.0f} KB, {packed / 1000:.1f} KB gzipped")
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="yorisoi-bench-phone-") as folder:
        profile = Path(folder)
        context, page, cdp = open_phone(pw, profile, served.url)
        try:
            net = Network(cdp)
            wall, in_browser = initial_sync(page, cdp, net, pop.worker, pop.password)
            cases = page.locator("a.case-card").count()
            stored = storage_mb(page)
            print(f"  initial sync of {cases} cases: {wall:.0f} ms ({net.requests} requests, "
                  f"{net.bytes / 1e6:.2f} MB, {net.seconds * 1000:.0f} ms in flight)")  # fmt: skip
        finally:
            context.close()
        starts, saves = [], []
        for run in range(COLD_STARTS):  # each start in a new browser, offline
            context, page, cdp = open_phone(pw, profile, served.url, offline=True)
            try:
                starts.append(cold_start(page, cdp))
                if run == 0:
                    saves = [save_contact(page, n) for n in range(max(1, min(runs, SAVES)))]
            finally:
                context.close()
    to_lock = statistics.median(s[0] for s in starts)
    unlock = statistics.median(s[1] for s in starts)
    return [
        Figure.against("browser_cold_start", to_lock + unlock, "ms", 1000, None),
        Figure.against("browser_cold_start_to_lock", to_lock, "ms", None, None),
        Figure.against("browser_unlock_to_caseload", unlock, "ms", None, None),
        Figure.against("browser_save_contact", statistics.median(saves), "ms", 50, None),
        Figure.against("browser_initial_sync", in_browser, "ms", 2000, None),
        Figure.against("browser_initial_sync_wall", wall, "ms", None, None),
        Figure.against("browser_initial_sync_bytes", net.bytes / 1024, "KiB", None, None),
        Figure.against("browser_storage_used", stored, "MB", None, None),
        Figure.against("app_shell_gzip_bytes", packed / 1000, "KB", 150, None),
    ]
