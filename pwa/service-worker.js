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
 * - The first version takes control of the open pages when it activates (clients.claim()); a page
 *   that was still loading then asks for it (CLAIM), so the app works offline right after sign-in.
 * - A new version installs, then waits. It takes over only when the page posts SKIP_WAITING, which
 *   it does when the worker taps 「更新する」 (after saving the open form's draft), or when every tab of
 *   the app has been closed. It never interrupts a form being filled.
 * - Background Sync, where the browser has it, only wakes an open page to sync: the outbox is
 *   sealed by the page, and the worker holds no keys.
 * - Every push shows a notification (iOS revokes the subscription of a worker that pushes silently).
 *   A payload says only a kind, a count and a link (docs/alerts.md); whatever it says, the
 *   notification shows the server's fixed catalogue text, or a generic one when it cannot be read.
 *   A tap opens the app's alert list or one alert, never any other address.
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
  "/app/js/alerts.js",
  "/app/js/api.js",
  "/app/js/device.js",
  "/app/js/dom.js",
  "/app/js/forms.js",
  "/app/js/history.js",
  "/app/js/i18n.js",
  "/app/js/keys.js",
  "/app/js/lock.js",
  "/app/js/lockscreens.js",
  "/app/js/notify.js",
  "/app/js/platform.js",
  "/app/js/records.js",
  "/app/js/recording.js",
  "/app/js/reset.js",
  "/app/js/screens.js",
  "/app/js/state.js",
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
  // Where the browser has static routing (Chromium), requests to /api/ go to the network without
  // waking this worker: it never answers them, and each one (a first sync makes dozens) would
  // otherwise wait for it to decline.
  const routes = /** @type {any} */ (event);
  if (typeof routes.addRoutes === "function" && typeof URLPattern === "function") {
    event.waitUntil(
      routes.addRoutes({ condition: { urlPattern: new URLPattern({ pathname: "/api/*" }) }, source: "network" }).catch(() => undefined),
    );
  }
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
  // A page whose navigation began before this worker activated, and was still loading when it
  // claimed (a reload during the first install), is passed over by clients.claim(): it asks here,
  // once it runs. Only the active worker claims; it takes no page from another version.
  if (event.data && event.data.type === "CLAIM" && sw.registration.active) event.waitUntil(sw.clients.claim().catch(() => undefined));
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

// ---- push notifications ----

const KINDS = ["alerts", "urgent", "sync"];
const ALERT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A short piece of text, or null. @param {unknown} v */
function line(v) {
  return typeof v === "string" && v.trim() && v.length <= 200 ? v : null;
}

/**
 * What a push shows. A payload that cannot be read, or lacks what it needs, still shows a
 * notification (a silent push gets the subscription revoked on iOS): the generic text, from the
 * precached catalogue (Japanese, the app's default: the worker cannot know the user's choice).
 * @param {PushMessageData | null} data
 */
async function notificationFor(data) {
  /** @type {any} */
  let p = null;
  try {
    p = data ? data.json() : null;
  } catch {
    p = null;
  }
  const ok = p && typeof p === "object" && p.v === 1 && KINDS.includes(p.kind) && line(p.title) && line(p.body);
  if (ok) {
    const url = typeof p.url === "string" ? p.url : "/alerts";
    return { title: p.title, body: p.body, tag: p.kind, url };
  }
  let labels = /** @type {Record<string, string>} */ ({});
  try {
    const hit = await caches.match("/app/i18n/ja.json");
    if (hit) labels = await hit.json();
  } catch {
    // No catalogue (the cache is being replaced): the literal text below.
  }
  return {
    title: labels["push.title"] || "寄り添い",
    body: labels["push.body_generic"] || "確認が必要なケースがあります",
    tag: "alerts",
    url: "/alerts",
  };
}

sw.addEventListener("push", (event) => {
  event.waitUntil(
    notificationFor(event.data).then((n) =>
      sw.registration.showNotification(n.title, {
        body: n.body,
        tag: n.tag, // a newer push of the same kind replaces the older one
        renotify: true,
        data: { url: n.url },
        icon: "/app/icons/icon-192.png",
      }),
    ),
  );
});

/**
 * Where a tapped notification leads, as the app's route: "#/alerts" or "#/alerts/<id>" for the
 * server's /alerts links, "" (the app as it is, and a sync) for /app/. Only a same-origin path is
 * accepted; anything else — an absolute or protocol-relative URL, another origin, an unknown
 * path — leads to the alert list.
 * @param {unknown} raw
 */
function appRoute(raw) {
  if (typeof raw !== "string" || !raw.startsWith("/") || raw.startsWith("//") || raw.includes("\\")) return "#/alerts";
  let url;
  try {
    url = new URL(raw, sw.location.origin);
  } catch {
    return "#/alerts";
  }
  if (url.origin !== sw.location.origin) return "#/alerts";
  if (url.pathname === "/app/") return "";
  const m = /^\/alerts\/([^/]+)$/.exec(url.pathname);
  if (m && ALERT_ID.test(m[1])) return `#/alerts/${m[1].toLowerCase()}`;
  return "#/alerts";
}

/**
 * A tap on a notification: close it, then bring the app to the front at the route — an open window
 * of the app is focused and told where to go (a page reload would lock the app), else a new one
 * opens. A function of its own so a test can run it with a real notification: headless Chromium
 * cannot click one.
 * @param {Notification} notification
 */
async function openNotification(notification) {
  notification.close();
  const route = appRoute(notification.data && notification.data.url);
  const windows = await sw.clients.matchAll({ type: "window", includeUncontrolled: true });
  const app = windows.find((c) => new URL(c.url).pathname.startsWith("/app/"));
  if (!app) return sw.clients.openWindow(`/app/${route}`);
  try {
    await app.focus();
  } catch {
    // Focusing is allowed only while handling a real tap.
  }
  app.postMessage(route ? { type: "OPEN_ROUTE", route } : { type: "SYNC_REQUESTED" });
  return app;
}

sw.addEventListener("notificationclick", (event) => {
  event.waitUntil(openNotification(event.notification));
});

sw.addEventListener("sync", (/** @type {any} */ event) => {
  if (event.tag !== "yorisoi-outbox") return;
  event.waitUntil(
    sw.clients.matchAll({ type: "window" }).then((clients) => {
      for (const client of clients) client.postMessage({ type: "SYNC_REQUESTED" });
    }),
  );
});
