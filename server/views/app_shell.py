"""The field app's shell: the files of `pwa/`, served under `/app/` as they are.

What is served here is the same for everyone and holds no personal data: HTML, scripts, styles,
icons, the manifest, the message catalogues and the vocabularies. The service worker precaches
exactly these files so the app opens offline; case data only ever travels through `/api/`, which the
service worker never caches.

Cache-Control is `no-cache` (revalidate with the ETag every time) rather than long-lived: the
service worker's versioned cache is the offline copy, and the HTTP cache must never hand it an old
file while it installs a new version. The service worker's `VERSION` placeholder is replaced by a
digest of everything it precaches, so any change to the shell yields a new worker that waits for the
user's consent before it takes over.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server import i18n, vocab
from server.errors import ApiError
from server.views.base import without_database

PWA_DIR = Path(__file__).resolve().parent.parent.parent / "pwa"
SW_NAME = "service-worker.js"
VERSION_PLACEHOLDER = "__SHELL_VERSION__"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class ShellFile:
    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True)
class Shell:
    """Every file under /app/, keyed by its path below /app/ ("" is index.html)."""

    files: dict[str, ShellFile]
    version: str

    def with_version(self, version: str) -> Shell:
        """The same shell announcing another version (tests use it to simulate a deployment)."""
        return replace(self, version=version, files=_with_worker(self.files, version))


def _file(body: bytes, suffix: str) -> ShellFile:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return ShellFile(body=body, content_type=CONTENT_TYPES[suffix], etag=etag)


def _vocabularies() -> bytes:
    data = {
        "methods": list(vocab.CONTACT_METHODS),
        "counterparts": list(vocab.COUNTERPARTS),
        "outcomes": vocab.OUTCOMES,
        "receptions": list(vocab.RECEPTIONS),
        "risk_flags": list(vocab.RISK_FLAGS),
        "sharing_bases": list(vocab.SHARING_BASES),
        "milestones": list(vocab.ALL_MILESTONES),
        "categories": list(vocab.CATEGORIES),
        "referral_sources": list(vocab.REFERRAL_SOURCES),
        "case_statuses": [s.value for s in vocab.CaseStatus],
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True).encode()


def _with_worker(files: dict[str, ShellFile], version: str) -> dict[str, ShellFile]:
    source = (PWA_DIR / SW_NAME).read_text(encoding="utf-8")
    out = dict(files)
    out[SW_NAME] = _file(source.replace(VERSION_PLACEHOLDER, version).encode(), ".js")
    return out


def load_shell(directory: Path = PWA_DIR) -> Shell:
    files: dict[str, ShellFile] = {}
    for path in sorted(directory.rglob("*")):
        # Only web files: the icon generator and editor leftovers beside them are not part of the app.
        if not path.is_file() or path.name.startswith(".") or path.suffix not in CONTENT_TYPES:
            continue
        rel = path.relative_to(directory).as_posix()
        files[rel] = _file(path.read_bytes(), path.suffix)
    files[""] = files.pop("index.html")
    for lang in i18n.LANGUAGES:
        files[f"i18n/{lang}.json"] = _file(json.dumps(i18n.load(lang), ensure_ascii=False).encode(), ".json")
    files["vocab.json"] = _file(_vocabularies(), ".json")
    digest = hashlib.sha256()
    for name in sorted(files):
        if name != SW_NAME:
            digest.update(name.encode() + b"\0" + files[name].etag.encode())
    version = digest.hexdigest()[:16]
    return Shell(files=_with_worker(files, version), version=version)


def shell_of(request: Request) -> Shell:
    state = request.app.state
    shell: Shell | None = getattr(state, "app_shell", None)
    if shell is None:
        shell = state.app_shell = load_shell()
    return shell


def _serve(request: Request, name: str) -> Response:
    found = shell_of(request).files.get(name)
    if found is None:
        raise ApiError(404, "not_found")
    headers = {"Cache-Control": "no-cache", "ETag": found.etag}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.content_type, headers=headers)


# The same files for everyone, from memory: no database, no session (server/views/base.py).
@without_database
def app_index(request: Request) -> Response:
    return _serve(request, "")


@without_database
def app_file(request: Request) -> Response:
    return _serve(request, str(request.path_params["path"]))


@without_database
def app_redirect(_request: Request) -> Response:
    return RedirectResponse("/app/", status_code=308)


routes = [
    Route("/app", app_redirect, methods=["GET"]),
    Route("/app/", app_index, methods=["GET"]),
    Route("/app/{path:path}", app_file, methods=["GET"]),
]
