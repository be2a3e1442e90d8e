// @ts-check
/// <reference lib="webworker" />
/**
 * The field app's service worker. Boring on purpose.
 *
 * - A versioned precache of the app shell; the server stamps VERSION with a digest of the shell, so
 *   every change to it makes a new worker.
 * - Only same-origin GET requests under /app/ are answered, and only from that precache. Everything
 *   else — above all /api/, which carries personal data — goes to the network untouched and is
 *   never cached.
 * - A new version installs, then waits. It takes over only when the page posts SKIP_WAITING, which
 *   it does when the worker taps 「更新する」 (after saving the open form's draft), or when every tab of
 *   the app has been closed. It never interrupts a form being filled.
 * - Background Sync, where the browser has it, only wakes an open page to sync: the outbox is
 *   sealed by the page, and the worker holds no keys.
 */

const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const VERSION = "__SHELL_VERSION__";
const PREFIX = "yorisoi-shell-";
const CACHE = PREFIX + VERSION;

// Every file of the app shell (a test checks this list against pwa/).
const SHELL = [
  "/app/",
  "/app/manifest.webmanifest",
  "/app/css/app.css",
  "/app/js/main.js",
  "/app/js/access.js",
  "/app/js/api.js",
  "/app/js/device.js",
  "/app/js/dom.js",
  "/app/js/forms.js",
  "/app/js/i18n.js",
  "/app/js/keys.js",
  "/app/js/lock.js",
  "/app/js/lockscreens.js",
  "/app/js/records.js",
  "/app/js/screens.js",
  "/app/js/store.js",
  "/app/js/sync.js",
  "/app/js/worker.js",
  "/app/i18n/ja.json",
  "/app/i18n/en.json",
  "/app/vocab.json",
  "/app/icons/icon-192.png",
  "/app/icons/icon-512.png",
  "/app/icons/maskable-512.png",
  "/app/icons/apple-touch-icon.png",
];

sw.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "no-cache" })))),
  );
  // No skipWaiting() here: an update waits for the user (see the message handler).
});

sw.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith(PREFIX) && key !== CACHE) await caches.delete(key);
      }
      // The first install takes control at once, so the app works offline right after sign-in.
      await sw.clients.claim();
    })(),
  );
});

sw.addEventListener("message", (event) => {
  if (event.data && event.data.type === "SKIP_WAITING") void sw.skipWaiting();
});

sw.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== sw.location.origin || !url.pathname.startsWith("/app/")) return;
  const key = request.mode === "navigate" ? "/app/" : url.pathname;
  event.respondWith(
    caches.open(CACHE).then(async (cache) => {
      const hit = await cache.match(key);
      return hit || fetch(request);
    }),
  );
});

sw.addEventListener("sync", (/** @type {any} */ event) => {
  if (event.tag !== "yorisoi-outbox") return;
  event.waitUntil(
    sw.clients.matchAll({ type: "window" }).then((clients) => {
      for (const client of clients) client.postMessage({ type: "SYNC_REQUESTED" });
    }),
  );
});
