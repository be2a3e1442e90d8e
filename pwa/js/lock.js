// @ts-check
/**
 * When the app locks itself: after a while without a touch (5 minutes by default), after a while in
 * the background (a minute by default), and — checked at unlock — when it has not synced for too
 * long (7 days by default), in which case only an online sign-in opens it again. The server sets
 * these numbers (`policy`, sent with the device key and kept on the phone, since the checks run
 * offline).
 *
 * Time comes from `now()`, i.e. `Date.now()`, and the checks run on ordinary timers, so a test can
 * drive them with Playwright's clock (`page.clock`) instead of waiting five minutes.
 */

import * as store from "./store.js";
import * as keys from "./keys.js";

/** @typedef {{idle_lock_seconds: number, background_lock_seconds: number, offline_days: number, max_pin_failures: number}} Policy */

/** @type {Policy} */
export const DEFAULTS = { idle_lock_seconds: 300, background_lock_seconds: 60, offline_days: 7, max_pin_failures: keys.MAX_PIN_FAILURES };
const CHECK_MS = 5_000;
const ACTIVITY = ["pointerdown", "keydown", "input", "wheel", "touchstart"];

/** @type {Policy} */
let policy = { ...DEFAULTS };

export function now() {
  return Date.now();
}

export async function loadPolicy() {
  policy = { ...DEFAULTS, ...((await store.getPlain("policy")) || {}) };
  return policy;
}

/** @param {Partial<Policy> | undefined} fromServer */
export async function savePolicy(fromServer) {
  if (!fromServer) return;
  policy = { ...DEFAULTS, ...fromServer };
  await store.setPlain({ policy });
}

export function offlineDays() {
  return policy.offline_days;
}

/** Too long without a successful sync: the PIN alone no longer opens the app. */
export async function offlineLimitPassed() {
  const ring = await keys.keyring();
  const synced = Date.parse((await store.getPlain("last_sync_at")) || "");
  const since = Number.isNaN(synced) ? ring?.created_at ?? now() : synced;
  return now() - since > policy.offline_days * 86_400_000;
}

let lastActivity = now();
/** @type {number | null} */
let hiddenAt = null;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let backgroundTimer;

/** Start watching; `onLock(reason)` is called once per lock, while the key is held. @param {(reason: "idle" | "background") => void} onLock */
export function watch(onLock) {
  const touched = () => {
    lastActivity = now();
  };
  for (const type of ACTIVITY) window.addEventListener(type, touched, { capture: true, passive: true });
  setInterval(() => {
    if (keys.held() && now() - lastActivity >= policy.idle_lock_seconds * 1000) onLock("idle");
  }, CHECK_MS);
  document.addEventListener("visibilitychange", () => {
    clearTimeout(backgroundTimer);
    if (document.visibilityState === "hidden") {
      hiddenAt = now();
      backgroundTimer = setTimeout(() => {
        if (keys.held()) onLock("background");
      }, policy.background_lock_seconds * 1000);
      return;
    }
    const away = hiddenAt === null ? 0 : now() - hiddenAt;
    hiddenAt = null;
    if (keys.held() && away >= policy.background_lock_seconds * 1000) onLock("background");
    else touched();
  });
}

/** The app was just unlocked: idle time starts now. */
export function restart() {
  lastActivity = now();
}
