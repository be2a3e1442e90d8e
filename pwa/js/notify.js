// @ts-check
/**
 * Notifications on this phone: asking, subscribing, re-registering, unsubscribing, and where a
 * tapped notification leads (docs/alerts.md, "Web Push").
 *
 * - Permission is asked only after the worker taps 「通知を受け取る」, never on opening the app.
 * - The subscription is re-sent to the server every time the app opens signed in with signal (the
 *   server then knows it is alive and whose it is), and deleted on the server before signing out.
 * - Where push is not offered — Safari on an iPhone outside the home screen, older browsers — the
 *   button is not shown and the settings say why. Alerts are always listed in the app as well, so a
 *   phone without notifications misses nothing (js/alerts.js).
 * - The phone keeps only a plain flag that notifications were asked for (`push_wanted` in the
 *   `device` store): nothing personal.
 * - A push service can hang without signal (Chromium without its push service never answers), so
 *   subscribing gives up after SUBSCRIBE_MS and says so.
 */

import { h, replace } from "./dom.js";
import { t } from "./i18n.js";
import * as store from "./store.js";
import { api, ApiFailure } from "./api.js";
import { needsHomeScreen } from "./platform.js";

const WANTED = "push_wanted";
export const SUBSCRIBE_MS = 20_000;
const ROUTE = /^#\/alerts(\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$/;

/**
 * Whether this browser can receive notifications from the app, and if not, why:
 * "ok"; "needs_home_screen" (an iPhone's Safari: push exists only for apps added to the home
 * screen); "blocked" (the user turned notifications off for the site in the browser);
 * "unsupported" (no Push API, Notifications API or service worker).
 * @returns {{available: boolean, reason: "ok" | "needs_home_screen" | "blocked" | "unsupported"}}
 */
export function pushSupport() {
  const apis = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  if (!apis) return { available: false, reason: needsHomeScreen() ? "needs_home_screen" : "unsupported" };
  if (Notification.permission === "denied") return { available: false, reason: "blocked" };
  return { available: true, reason: "ok" };
}

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @returns {Promise<T>}
 */
function within(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new ApiFailure("timeout", 0, "push_service_timeout")), ms);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (err) => { clearTimeout(timer); reject(err); },
    );
  });
}

async function registration() {
  if (!("serviceWorker" in navigator)) return null;
  try {
    return (await navigator.serviceWorker.getRegistration("/app/")) || null;
  } catch {
    return null;
  }
}

/** @param {string} b64url @returns {Uint8Array} */
function bytes(b64url) {
  const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (b64url.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** @param {PushSubscription} sub @param {Uint8Array} key */
function sameKey(sub, key) {
  const current = sub.options?.applicationServerKey;
  if (!current) return true; // not exposed by this browser: trust it
  const a = new Uint8Array(current);
  return a.length === key.length && a.every((b, i) => b === key[i]);
}

/**
 * The subscription to send: the existing one when it was made with the server's current key,
 * else a new one (a server whose key changed could not reach the old one).
 * @param {ServiceWorkerRegistration} reg
 * @param {boolean} create  make one when there is none
 */
async function current(reg, create) {
  const answer = await api("GET", "/api/push/key");
  const key = bytes(String(answer.public_key));
  let sub = await reg.pushManager.getSubscription();
  if (sub && !sameKey(sub, key)) {
    await within(sub.unsubscribe(), 5000).catch(() => undefined);
    sub = null;
  }
  if (!sub && create) {
    sub = await within(reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }), SUBSCRIBE_MS);
  }
  return sub;
}

/** @param {PushSubscription} sub */
async function send(sub) {
  await api("POST", "/api/push/subscriptions", sub.toJSON());
}

/**
 * The worker tapped 「通知を受け取る」: ask for permission (only now), subscribe, tell the server.
 * @returns {Promise<"on" | "dismissed" | "blocked" | "unsupported" | "offline" | "not_allowed" | "failed">}
 */
export async function enable() {
  if (!pushSupport().available) return pushSupport().reason === "blocked" ? "blocked" : "unsupported";
  const permission = await Notification.requestPermission();
  if (permission === "denied") return "blocked";
  if (permission !== "granted") return "dismissed";
  await store.setPlain({ [WANTED]: true });
  if (!navigator.onLine) return "offline";
  const reg = await registration();
  if (!reg) return "failed";
  try {
    const sub = await current(reg, true);
    if (!sub) return "failed";
    await send(sub);
    return "on";
  } catch (err) {
    if (err instanceof ApiFailure && err.code === "push_endpoint_not_allowed") return "not_allowed";
    if (err instanceof ApiFailure && err.kind === "network") return "offline";
    return "failed";
  }
}

/** 「通知を止める」: the server forgets the subscription, then the browser drops it. */
export async function disable() {
  await store.setPlain({ [WANTED]: false });
  await forget();
}

/**
 * The app opened signed in (or was unlocked): send the subscription again. A browser that lost it
 * (its push service expired it) gets a new one without asking, when the worker had asked for
 * notifications and the permission still stands. Best effort: a failure waits for the next opening.
 */
export async function renew() {
  if (!pushSupport().available || Notification.permission !== "granted" || !navigator.onLine) return;
  const reg = await registration();
  if (!reg) return;
  try {
    const sub = await current(reg, Boolean(await store.getPlain(WANTED)));
    if (sub) await send(sub);
  } catch {
    // No signal, no push service, session ended: the next opening tries again.
  }
}

/** Before signing out: the server stops sending here, and the browser drops the subscription. */
export async function forget() {
  const reg = await registration();
  const sub = reg && "pushManager" in reg ? await reg.pushManager.getSubscription().catch(() => null) : null;
  if (!sub) return;
  await api("DELETE", "/api/push/subscriptions", { endpoint: sub.endpoint }).catch(() => undefined);
  await within(sub.unsubscribe(), 5000).catch(() => undefined);
}

/** Whether this browser holds a subscription now. */
async function subscribed() {
  const reg = await registration();
  if (!reg || !("pushManager" in reg)) return false;
  return Boolean(await reg.pushManager.getSubscription().catch(() => null));
}

/**
 * A tapped notification, relayed by the service worker to an open window: go to the alert (after
 * the open form's draft is saved; `go` does that). The route is checked again here.
 * @param {(route: string) => void} go
 */
export function listen(go) {
  navigator.serviceWorker?.addEventListener("message", (event) => {
    const data = event.data;
    if (data && data.type === "OPEN_ROUTE" && typeof data.route === "string" && ROUTE.test(data.route)) go(data.route);
  });
}

const MESSAGES = {
  on: "pwa.notify_done",
  dismissed: "pwa.notify_dismissed",
  blocked: "pwa.notify_blocked",
  unsupported: "pwa.notify_unsupported",
  offline: "pwa.notify_offline",
  not_allowed: "error.push_endpoint_not_allowed",
  failed: "pwa.notify_failed",
  off: "pwa.notify_off",
};

/** The settings card: what this phone can do, and the one button that asks. */
export function settingsCard() {
  const body = h("div");
  const said = h("p", { class: "form-status", role: "status" });
  const card = h("section", { class: "card", "aria-labelledby": "notify-title" },
    h("h2", { id: "notify-title" }, t("pwa.notify_title")), body, said,
    h("p", { class: "hint" }, t("pwa.notify_always_listed")));
  /** @param {keyof typeof MESSAGES | null} outcome */
  const draw = async (outcome) => {
    const support = pushSupport();
    if (outcome) said.textContent = t(MESSAGES[outcome]);
    if (!support.available) {
      const key = { needs_home_screen: "pwa.notify_ios", blocked: "pwa.notify_blocked", unsupported: "pwa.notify_unsupported", ok: "" }[support.reason];
      if (outcome !== "blocked") replace(body, h("p", null, t(key)));
      else replace(body);
      return;
    }
    /** @param {string} label @param {() => Promise<keyof typeof MESSAGES>} act @param {string} cls */
    const button = (label, act, cls) => h("button", {
      type: "button",
      class: cls,
      onclick: async (/** @type {Event} */ e) => {
        /** @type {HTMLButtonElement} */ (e.currentTarget).disabled = true;
        said.textContent = t("pwa.notify_working");
        await draw(await act());
      },
    }, label);
    if (Notification.permission === "granted" && (await subscribed())) {
      replace(body, h("p", null, t("pwa.notify_on")),
        h("div", { class: "actions" }, button(t("pwa.notify_disable"), async () => { await disable(); return "off"; }, "secondary")));
    } else {
      replace(body, h("p", null, t("pwa.notify_intro")),
        h("div", { class: "actions" }, button(t("pwa.notify_enable"), enable, "primary")));
    }
  };
  void draw(null);
  return card;
}
