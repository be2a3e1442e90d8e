"""The field app's shell over HTTP: what /app/ serves, with which headers, and what it never holds."""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from server import i18n
from server.app import create_app
from server.security.admission import Gate
from server.settings import Settings
from server.views.app_shell import PWA_DIR, VERSION_PLACEHOLDER, load_shell
from tests.factories import PASSWORD, Factory
from tests.sync_support import Statements


def test_index_is_served_at_app_with_no_cache_and_the_strict_csp(client: TestClient) -> None:
    r = client.get("/app/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert '<link rel="manifest" href="/app/manifest.webmanifest">' in r.text
    again = client.get("/app/", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/app", follow_redirects=False).headers["location"] == "/app/"


def test_manifest_makes_the_app_installable_at_app(client: TestClient) -> None:
    r = client.get("/app/manifest.webmanifest")
    assert r.headers["content-type"] == "application/manifest+json"
    manifest = r.json()
    assert manifest["start_url"] == manifest["scope"] == "/app/"
    assert manifest["display"] == "standalone"
    assert manifest["lang"] == "ja" and manifest["short_name"]
    sizes = {(icon["sizes"], icon.get("purpose", "any")) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        png = client.get(icon["src"])
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        width, height = int.from_bytes(png.content[16:20], "big"), int.from_bytes(png.content[20:24], "big")
        assert f"{width}x{height}" == icon["sizes"]


def test_service_worker_is_stamped_with_the_shell_version(client: TestClient) -> None:
    r = client.get("/app/service-worker.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-cache"
    assert VERSION_PLACEHOLDER not in r.text
    assert f'const VERSION = "{load_shell().version}";' in r.text


def test_a_changed_shell_is_a_new_version() -> None:
    shell = load_shell()
    bumped = shell.with_version("next")
    assert bumped.files["service-worker.js"].body != shell.files["service-worker.js"].body
    assert bumped.files["js/main.js"] == shell.files["js/main.js"]


def test_catalogues_and_vocabularies_are_served_to_the_app(client: TestClient) -> None:
    for lang in i18n.LANGUAGES:
        r = client.get(f"/app/i18n/{lang}.json")
        assert r.status_code == 200 and r.json() == i18n.load(lang)
    vocab = client.get("/app/vocab.json").json()
    assert "NO_ANSWER" in vocab["outcomes"] and "HOME_VISIT" in vocab["methods"]
    # Every label the app asks for exists (pwa.* keys are looked up literally in the scripts).
    used = set()
    literal = re.compile(r'\bt\("((?:pwa|ui|auth|error|nav|app|lang)\.[a-z_.]+)"')
    for path in (PWA_DIR / "js").glob("*.js"):
        used |= set(literal.findall(path.read_text(encoding="utf-8")))
    missing = sorted(k for k in used if k not in i18n.load("ja"))
    assert missing == []


def test_unknown_files_are_not_found(client: TestClient) -> None:
    assert client.get("/app/nope.js").status_code == 404
    assert client.get("/app/../server/app.py").status_code == 404
    assert client.get("/app/icons/make_icons.py").status_code == 404
    assert client.get("/app/%2e%2e/pyproject.toml").status_code == 404


# --- served without the database (docs/performance.md, "Session 7 (issue #9): the app shell …") --


def _fetch_the_shell(c: TestClient) -> None:
    """Every file the service worker precaches (and the worker itself) is served, 304 when unchanged,
    HEAD without a body; an unknown one is the JSON `not_found` in the visitor's language."""
    for path in sorted(_precached() | {"/app/service-worker.js"}):
        r = c.get(path)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-cache" and "script-src 'self'" in r.headers["content-security-policy"]
        assert c.get(path, headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    head = c.head("/app/js/main.js")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"]
    missing = c.get("/app/nope.js", headers={"Cookie": "lang=en; " + c.headers.get("cookie", "")})
    assert missing.status_code == 404 and missing.headers["cache-control"] == "no-store"
    assert missing.json()["error"] == {"code": "not_found", "message": i18n.t("en", "error.not_found")}
    assert c.get("/app/nope.js").json()["error"]["message"] == i18n.t("ja", "error.not_found")
    assert c.get("/app", follow_redirects=False).headers["location"] == "/app/"
    assert c.get("/api/openapi.json").status_code == 200


# A phone's requests to /app/ carry its session cookie (path /), which used to be looked up.
SIGNED_IN = {"Cookie": "yorisoi_session=" + "x" * 43}


def test_the_shell_runs_no_sql_and_takes_no_admission_place(
    settings: Settings, db_factory: Any, factory: Factory
) -> None:
    """A precache during a morning burst is not refused `server_busy`: the shell takes no request
    place (all of them are held here) and runs no statement (no transaction, no session lookup)."""
    factory.user("kato")
    app = create_app(dataclasses.replace(settings, max_concurrent_requests=1, request_queue_seconds=0.1))
    with TestClient(app) as c:
        assert c.post("/api/session", json={"username": "kato", "password": PASSWORD}).status_code == 200
        statements = Statements(app)
        gate: Gate = app.state.admission.requests
        assert c.portal is not None and c.portal.call(gate.enter, 0)
        _fetch_the_shell(c)
        assert c.get("/api/session").status_code == 503  # everything else still waits for a place
        c.portal.call(gate.leave)
    assert statements.seen == []


def test_the_shell_is_served_while_the_database_is_unreachable(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, database_url="postgresql://nobody@127.0.0.1:9/none"))
    c = TestClient(app, headers=SIGNED_IN)  # no lifespan: nothing starts that would reach for the database
    _fetch_the_shell(c)
    assert c.get("/api/session").status_code == 503  # the session is looked up there
    app.state.engine.dispose()


def test_the_shell_is_served_while_another_connection_holds_what_the_session_lookup_waits_for(
    settings: Settings, database_url: str, engine: Engine, db_factory: Any
) -> None:
    """A phone's push holding SQLite's write lock, or (PostgreSQL) a lock on the sessions' table:
    the shell does not wait for it. The lock is let go after a few seconds in any case; every
    file must have been served before that (each used to wait for it: on SQLite the busy_timeout,
    10 s, then 503)."""
    release: Callable[[], None]
    if database_url.startswith("sqlite"):
        raw = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None, timeout=0, check_same_thread=False)
        raw.execute("BEGIN IMMEDIATE")

        def release() -> None:
            raw.execute("ROLLBACK")
            raw.close()
    else:
        held = engine.connect()
        held.execute(text("LOCK TABLE user_session IN ACCESS EXCLUSIVE MODE"))

        def release() -> None:
            held.rollback()
            held.close()

    let_go = threading.Event()
    once = threading.Lock()

    def release_once() -> None:
        with once:
            if not let_go.is_set():
                let_go.set()
                release()

    timer = threading.Timer(5, release_once)
    timer.start()
    try:
        app = create_app(settings)
        _fetch_the_shell(TestClient(app, headers=SIGNED_IN))
        assert not let_go.is_set(), "the shell waited for the lock"
        app.state.engine.dispose()
    finally:
        timer.cancel()
        release_once()


def _precached() -> set[str]:
    source = (PWA_DIR / "service-worker.js").read_text(encoding="utf-8")
    block = source[source.index("const SHELL = [") : source.index("];", source.index("const SHELL = ["))]
    return set(re.findall(r'"(/app/[^"]*)"', block))


def test_the_service_worker_precaches_exactly_the_shell() -> None:
    served = {"/app/" + name for name in load_shell().files if name != "service-worker.js"}
    assert _precached() == served


def test_no_inline_script_or_style_and_no_eval_in_the_app() -> None:
    html = (PWA_DIR / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html and " style=" not in html
    for path in Path(PWA_DIR).rglob("*.js"):
        text = path.read_text(encoding="utf-8")
        for banned in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "eval(", "new Function"):
            assert banned not in text, f"{path.name} uses {banned}"


def _static_imports(name: str, seen: set[str]) -> set[str]:
    """The modules `name` imports statically (`import|export … from "./x.js"`), directly or not."""
    source = (PWA_DIR / "js" / name).read_text(encoding="utf-8")
    for found in re.findall(r'^(?:import|export)[^;]*?from "\./([a-z0-9]+\.js)";', source, re.M | re.S):
        if found not in seen:
            seen.add(found)
            _static_imports(found, seen)
    return seen


def test_the_shell_preloads_every_module_the_lock_screen_needs_and_no_other() -> None:
    html = (PWA_DIR / "index.html").read_text(encoding="utf-8")
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/app/js/([^"]+)">', html))
    assert preloaded == _static_imports("main.js", set())


def test_the_lock_screen_waits_for_neither_the_records_nor_the_sync() -> None:
    """A reopened app draws its lock screen before js/records.js, js/sync.js and their imports are
    fetched and run (js/main.js loads them after it, while the PIN is typed): each module on that
    path is a service-worker response and an evaluation on a slow phone's main thread."""
    later = {"records.js", "sync.js", "history.js", "recording.js", "reset.js"}
    assert not later & _static_imports("main.js", set())


def test_manifest_file_is_valid_json() -> None:
    json.loads((PWA_DIR / "manifest.webmanifest").read_text(encoding="utf-8"))
