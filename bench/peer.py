"""The peer: the same caseload replicated into Chromium by PouchDB from pouchdb-server — the CouchDB
replication protocol that the Community Health Toolkit (CHT) is built on — timed and weighed
beside Yorisoi's own initial sync (bench.browser).

The same records: worker w000's initial pull from Yorisoi (every page, as the app receives them)
becomes one CouchDB document per record, `_id` = "<entity>:<id>", the record's JSON as sent plus
its `type` — as CHT keeps one document per person, place and report. They are loaded into
pouchdb-server running in memory (`--in-memory`) on a loopback port. A page from that server's
origin (served by Playwright's router: no CORS involved) loads PouchDB's browser build and runs
`db.replicate.from(remote)` with PouchDB's defaults (batches of 100) into IndexedDB, under the same
4× CPU throttling. Bytes are what DevTools saw on the wire (pouchdb-server gzips its answers;
Yorisoi's app does not, see `pull_initial_gzip_bytes`).

bench/peer/package.json pins pouchdb-server and pouchdb (whose dist/ is the browser build); the
bench installs them with `npm ci` when missing — no install scripts, no optional native modules
(the in-memory adapter needs neither). Not part of the app or of `make test`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
from playwright.sync_api import Route, sync_playwright
from starlette.testclient import TestClient

from bench.browser import open_phone
from bench.live import HOST, free_port, stop
from bench.measure import Figure

PEER = Path(__file__).resolve().parent / "peer"
SERVER_BIN = PEER / "node_modules" / ".bin" / "pouchdb-server"
POUCHDB_JS = PEER / "node_modules" / "pouchdb" / "dist" / "pouchdb.min.js"
DB = "caseload"
BULK = 2000
REPLICATE_TIMEOUT_S = 300
PAGE = "<!doctype html><meta charset=utf-8><title>peer</title><script src=/_bench/pouchdb.min.js></script>"

REPLICATE = """async (remote) => {
  const db = new PouchDB("caseload");
  const t0 = performance.now();
  const result = await db.replicate.from(remote);
  const ms = performance.now() - t0;
  const info = await db.info();
  return { ms, docs_written: result.docs_written, doc_count: info.doc_count, ok: result.ok };
}"""


def ensure_installed() -> None:
    if SERVER_BIN.exists() and POUCHDB_JS.exists():
        return
    if shutil.which("npm") is None:
        raise RuntimeError("npm is needed for the peer figures (bench/peer/package.json)")
    print("  installing bench/peer (npm ci: pouchdb-server, pouchdb) …")
    subprocess.run(
        ["npm", "ci", "--omit=optional", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=PEER, check=True, timeout=600, stdout=subprocess.DEVNULL,
    )  # fmt: skip


@contextmanager
def pouchdb_server(start_timeout: float = 30) -> Iterator[str]:
    """pouchdb-server in memory on a free loopback port; stopped on leaving."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="yorisoi-bench-pouchdb-") as cwd:  # its config.json, log.txt
        proc = subprocess.Popen(
            [str(SERVER_BIN), "--in-memory", "--host", HOST, "--port", str(port), "--no-stdout-logs"],
            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"http://{HOST}:{port}"
            deadline = time.monotonic() + start_timeout
            while True:
                try:
                    if httpx.get(url, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("pouchdb-server did not start")
                time.sleep(0.2)
            yield url
        finally:
            stop(proc)


def yorisoi_records(worker: TestClient) -> tuple[list[dict[str, Any]], int, int]:
    """A new installation's whole initial pull, in-process: (the records as last put, bytes of
    the answers, requests)."""
    client_id, cursor, size, pages = str(uuid.uuid4()), "", 0, 0
    records: dict[str, dict[str, Any]] = {}
    while True:
        r = worker.get("/api/sync/pull", params={"client_id": client_id, **({"cursor": cursor} if cursor else {})})
        r.raise_for_status()
        answer = r.json()
        size, pages = size + len(r.content), pages + 1
        for c in answer["changes"]:
            key = f"{c['entity']}:{c['id']}"
            if c["op"] == "put":
                records[key] = {"_id": key, "type": c["entity"], **c["data"]}
            else:
                records.pop(key, None)
        cursor = answer["cursor"]
        if not answer["has_more"]:
            return list(records.values()), size, pages


def load(url: str, docs: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=url, timeout=120) as c:
        c.put(f"/{DB}").raise_for_status()
        for i in range(0, len(docs), BULK):
            c.post(f"/{DB}/_bulk_docs", json={"docs": docs[i : i + BULK]}).raise_for_status()
        count = c.get(f"/{DB}").json()["doc_count"]
    if count != len(docs):
        raise RuntimeError(f"pouchdb-server holds {count} documents, {len(docs)} were loaded")


def replicate(url: str) -> tuple[dict[str, Any], int, int]:
    """In Chromium, 4× throttled: PouchDB replicates the database; (result, bytes received, requests)."""
    pouchdb_js = POUCHDB_JS.read_bytes()

    def bench_files(route: Route) -> None:
        if route.request.url.endswith("/pouchdb.min.js"):
            route.fulfill(status=200, body=pouchdb_js, content_type="text/javascript")
        else:
            route.fulfill(status=200, body=PAGE, content_type="text/html; charset=utf-8")

    received: dict[str, int] = {}
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="yorisoi-bench-peer-") as profile:
        context, page, cdp = open_phone(pw, Path(profile), url)
        try:
            page.route(f"{url}/_bench/**", bench_files)
            cdp.on("Network.loadingFinished", lambda e: received.__setitem__(e["requestId"], e["encodedDataLength"]))
            sent: set[str] = set()
            cdp.on("Network.requestWillBeSent",
                   lambda e: sent.add(e["requestId"]) if f"/{DB}" in e["request"]["url"] else None)  # fmt: skip
            cdp.send("Network.enable")
            page.goto(f"{url}/_bench/peer.html")
            page.set_default_timeout(REPLICATE_TIMEOUT_S * 1000)
            result = page.evaluate(REPLICATE, f"{url}/{DB}")
            page.wait_for_timeout(200)  # the last loadingFinished events
        finally:
            context.close()
    wire = sum(n for rid, n in received.items() if rid in sent)
    return result, wire, len(sent)


def peer_figures(worker: TestClient) -> list[Figure]:
    try:
        ensure_installed()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:  # the other figures still count
        print(f"  peer: NOT MEASURED — bench/peer could not be installed ({type(exc).__name__}: {exc})")
        return []
    docs, ys_bytes, ys_pages = yorisoi_records(worker)
    body = len(json.dumps(docs, ensure_ascii=False).encode())
    print(f"  peer: {len(docs)} documents ({body / 1e6:.2f} MB of JSON) from Yorisoi's pull of "
          f"{ys_bytes / 1e6:.2f} MB in {ys_pages} pages")  # fmt: skip
    with pouchdb_server() as url:
        t0 = time.perf_counter()
        load(url, docs)
        print(f"  loaded into pouchdb-server (in memory) in {time.perf_counter() - t0:.1f} s")
        result, wire, requests = replicate(url)
    if not result.get("ok") or result.get("doc_count") != len(docs):
        raise RuntimeError(f"PouchDB replicated {result}, expected {len(docs)} documents")
    print(f"  PouchDB replicated {result['docs_written']} documents in {result['ms']:.0f} ms, "
          f"{requests} requests, {wire / 1e6:.2f} MB on the wire")  # fmt: skip
    return [
        Figure.against("peer_pouchdb_initial_sync", result["ms"], "ms", None, None),
        Figure.against("peer_pouchdb_initial_sync_bytes", wire / 1024, "KiB", None, None),
        Figure.against("peer_pouchdb_initial_sync_requests", requests, "req", None, None),
    ]
