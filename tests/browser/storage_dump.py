"""Read everything the app left in the browser's storage, as a thief with the profile would: every
IndexedDB database, store, index name, key and value (byte arrays decoded as UTF-8, so plaintext
inside a buffer shows), every Cache Storage entry with its body, local and session storage, and
the URL. Used by the device-security tests to grep for canaries."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

DUMP_JS = """
async () => {
  const out = [];
  const dec = new TextDecoder("utf-8");
  const walk = (v) => {
    if (v === null || v === undefined) return;
    if (typeof v === "string") { out.push(v); return; }
    if (typeof v === "number" || typeof v === "boolean") { out.push(String(v)); return; }
    if (v instanceof ArrayBuffer) { out.push(dec.decode(new Uint8Array(v))); return; }
    if (ArrayBuffer.isView(v)) { out.push(dec.decode(new Uint8Array(v.buffer, v.byteOffset, v.byteLength))); return; }
    if (Array.isArray(v)) { v.forEach(walk); return; }
    if (typeof v === "object") { for (const [k, x] of Object.entries(v)) { out.push(k); walk(x); } }
  };
  const req = (r) => new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  const counts = {};
  for (const info of await indexedDB.databases()) {
    out.push(info.name);
    const db = await req(indexedDB.open(info.name));
    for (const name of Array.from(db.objectStoreNames)) {
      out.push(name);
      const os = db.transaction(name).objectStore(name);
      for (const ix of Array.from(os.indexNames)) out.push(ix);
      const keys = await req(os.getAllKeys());
      const values = await req(db.transaction(name).objectStore(name).getAll());
      counts[info.name + "/" + name] = keys.length;
      keys.forEach(walk);
      values.forEach(walk);
    }
    db.close();
  }
  const cached = [];
  for (const key of await caches.keys()) {
    out.push(key);
    const cache = await caches.open(key);
    for (const r of await cache.keys()) {
      cached.push(r.url);
      out.push(r.url);
      out.push(await (await cache.match(r)).text());
    }
  }
  for (const s of [localStorage, sessionStorage]) {
    for (let i = 0; i < s.length; i++) { const k = s.key(i); out.push(k, s.getItem(k)); }
  }
  out.push(location.href);
  const workers = (await navigator.serviceWorker.getRegistrations()).length;
  return { text: out.join("\\n"), counts, cached, workers };
}
"""


def dump_storage(page: Page) -> dict[str, Any]:
    """{"text": everything as one string, "counts": entries per "db/store", "cached": URLs,
    "workers": service-worker registrations}."""
    result: dict[str, Any] = page.evaluate(DUMP_JS)
    return result


def idb_entries(page: Page) -> int:
    """How many entries IndexedDB holds in all (0 when wiped)."""
    return sum(dump_storage(page)["counts"].values())
