// @ts-check
/**
 * Who can see the records right now, and the moves between the states: signed out → (online
 * sign-in) → setting a PIN → open → (idle, background) → locked → (PIN) → open; and the ends:
 * sign-out, remote wipe.
 *
 * "Open" is not a flag: it is the data key being in memory (js/keys.js). Everything here decides
 * only which screen a *closed* app shows (`gate`): the lock screen when a PIN can open it, the
 * sign-in screen when only the server's device key can (no PIN set yet, five wrong PINs, the PIN
 * forgotten, too long offline).
 *
 * Revocation: any API answer `device_revoked` (js/api.js) wipes the installation — keys, IndexedDB,
 * caches and the service worker — whatever the app was doing, locked or not. A locked app that
 * comes online asks the server once (`checkIn`), so a stolen phone that is never unlocked is wiped
 * too the moment it has signal and the app is opened.
 */

import * as store from "./store.js";
import * as keys from "./keys.js";
import * as lock from "./lock.js";
import * as device from "./device.js";
import { forget, syncStatus } from "./state.js";
import * as worker from "./worker.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import { api, ApiFailure, revoked } from "./api.js";

/** What a closed app shows. */
export const gate = {
  /** @type {"signin" | "lock"} */ screen: "signin",
  /** @type {string | null} */ reason: null,
  /** the worker said they forgot the PIN: the online sign-in asks for a new one */
  forgot: false,
  /** the sign-in that follows recovers existing records (the PIN screen says so) */
  recovering: false,
};

/** Resolves once a closed app with signal has asked the server whether it is revoked. */
export let ready = Promise.resolve();

/** What main.js does for us: redraw, and open the app once the key is in memory. */
const ui = {
  /** @type {() => Promise<void>} */ show: async () => {},
  /** @type {(fresh: boolean) => Promise<void>} */ opened: async () => {},
  /** @type {() => Promise<void>} */ beforeLock: async () => {},
};

/** @param {{show: () => Promise<void>, opened: (fresh: boolean) => Promise<void>, beforeLock: () => Promise<void>}} hooks */
export async function start(hooks) {
  Object.assign(ui, hooks);
  keys.install();
  await device.id();
  await lock.loadPolicy();
  revoked.handler = wipeRevoked;
  await decide(null);
  lock.watch((reason) => void lockNow(reason));
  window.addEventListener("online", () => void checkIn());
  ready = checkIn().catch(() => undefined);
}

/** Decide the screen of a closed app. @param {string | null} reason */
async function decide(reason) {
  const ring = await keys.keyring();
  gate.recovering = Boolean(ring);
  if (!ring) {
    gate.screen = "signin";
    gate.reason = reason;
  } else if (!ring.pin) {
    gate.screen = "signin";
    gate.reason = reason || ((await store.outboxCount()) > 0 ? t("pwa.pin_forgot_body") : null);
  } else if (await lock.offlineLimitPassed()) {
    gate.screen = "signin";
    gate.reason = t("pwa.offline_limit", { days: lock.offlineDays() });
  } else {
    gate.screen = "lock";
    gate.reason = reason;
  }
}

/** A closed app with signal asks the server once: a revoked device is answered with the wipe. */
async function checkIn() {
  if (keys.held() || !navigator.onLine || !(await keys.keyring())) return;
  await api("GET", "/api/session").catch(() => undefined);
}

// ---- locking and unlocking ----

let locking = false;

/** Lock: save the open form's draft, let a running sync finish (briefly), drop the key. @param {"idle" | "background" | "manual"} why */
export async function lockNow(why) {
  if (!keys.held() || locking) return;
  locking = true;
  try {
    await ui.beforeLock().catch(() => undefined);
    // Open, so js/sync.js is loaded already (js/main.js loads it after the lock screen, before any
    // open screen); should that fail, the lock goes on all the same.
    const running = import("./sync.js").then((sync) => sync.running());
    await Promise.race([running, new Promise((resolve) => setTimeout(resolve, 5000))]).catch(() => undefined);
    keys.lock();
    forget();
    await decide(why === "manual" ? null : t("pwa.locked_idle"));
  } finally {
    locking = false;
  }
  await ui.show();
}

/** The lock screen's 「解除」. Resolves null when the app opened (or moved on), else what to say. @param {string} pin */
export async function unlock(pin) {
  if (await lock.offlineLimitPassed()) {
    await decide(null);
    await ui.show();
    return null;
  }
  const result = await keys.unlockWithPin(pin);
  if (result.ok) {
    lock.restart();
    gate.reason = null;
    await ui.opened(false);
    return null;
  }
  if ("left" in result) return t("pwa.pin_wrong", { left: result.left });
  gate.screen = "signin";
  gate.reason = t("pwa.pin_dropped");
  await ui.show();
  return null;
}

/** 「PINを忘れた場合」: the online sign-in opens the records and asks for a new PIN. */
export async function forgot() {
  gate.screen = "signin";
  gate.forgot = true;
  gate.reason = t("pwa.pin_forgot_body");
  await ui.show();
}

// ---- signing in ----

/** Before the sign-in request: another user on this installation needs a new one. @param {string} username */
export async function beforeSignIn(username) {
  if (!(await device.ownedByAnother(username))) return null;
  if ((await store.outboxCount()) > 0) return t("pwa.other_user_unsent_anon");
  await device.wipe();
  forgetAll(0);
  await decide(null);
  await device.id();
  return null;
}

/** @param {ApiFailure | unknown} err */
function keyMissing(err) {
  return err instanceof ApiFailure && err.code === "device_key_missing";
}

/**
 * The server's device key opens (or, the first time, protects) the data key. Resolves false when
 * the records cannot be opened: the screen then says why.
 */
async function openWithServerKey() {
  const ring = await keys.keyring();
  if (!ring) {
    const answer = await api("POST", "/api/device/key");
    await lock.savePolicy(answer.policy);
    await keys.create(answer.key);
    return true;
  }
  let answer = null;
  try {
    answer = await api("GET", "/api/device/key");
  } catch (err) {
    if (!keyMissing(err)) throw err;
  }
  if (answer) await lock.savePolicy(answer.policy);
  if (answer && (await keys.openWithServer(answer.key, { newPin: gate.forgot }))) return true;
  // The server no longer holds this installation's key (a restore from an older backup).
  if (ring.pin) {
    gate.screen = "lock";
    gate.reason = t("error.device_key_missing");
  } else {
    await device.wipe();
    forgetAll(0);
    await decide(t("pwa.keys_lost"));
  }
  return false;
}

/** The server accepted the sign-in. @param {any} user */
export async function signedIn(user) {
  const owner = await device.ownerId();
  if (owner && owner !== user.id) {
    // The records here belong to someone else (caught before signing in, unless renamed since).
    await api("DELETE", "/api/session").catch(() => undefined);
    if ((await store.outboxCount()) > 0) {
      gate.reason = t("pwa.other_user_unsent_anon");
    } else {
      await device.wipe();
      forgetAll(0);
      await decide(`${t("pwa.wiped")} ${t("error.unauthenticated")}`);
    }
    await ui.show();
    return;
  }
  if (!keys.held() && !(await openWithServerKey())) {
    await ui.show();
    return;
  }
  await device.setOwner(user);
  i18n.adoptUserPreferences(user);
  await i18n.load();
  await store.write([
    { store: "meta", key: "session", value: { user } },
    { store: "meta", key: "owner", value: { id: user.id, username: user.username, display_name: user.display_name } },
  ]);
  gate.forgot = false;
  gate.reason = null;
  void worker.ensureRegistered();
  lock.restart();
  if (keys.pinPending()) await ui.show();
  else await ui.opened(true);
}

/** 「設定」 on the PIN screen succeeded. */
export async function pinSet() {
  gate.recovering = false;
  await ui.opened(true);
}

// ---- signing out and wiping ----

/**
 * Sign out (after the caller warned about unsent records). With nothing unsent, everything goes,
 * as on a revoked phone, and the server forgets the device key. With unsent records, the case data
 * goes and the PIN-wrapped key with it: the unsent records stay, sealed under a key that only an
 * online sign-in of the same user on this installation can fetch again.
 * @param {number} unsent
 */
export async function signOut(unsent) {
  // First, before any await: no sync may start from here (it needs a user). Signed out offline, the
  // server's session still lives, and the network coming back mid-way must not send the records.
  forgetAll(unsent);
  if (unsent === 0) await api("DELETE", "/api/device/key").catch(() => undefined);
  await api("DELETE", "/api/session").catch(() => undefined);
  if (unsent === 0) {
    await device.wipe();
  } else {
    await store.clear(["records", "attention", "drafts"]);
    await store.write([{ store: "meta", key: "session", remove: true }]);
    await store.setPlain({ cursor: "" });
    await keys.dropPin();
    keys.lock();
    await device.dropCaches();
  }
  forgetAll(unsent);
  await decide(unsent > 0 ? t("pwa.signed_out_kept", { count: unsent }) : t("pwa.signed_out"));
  await ui.show();
}

/** Nothing of the records stays in memory; the unsent count is what is left on the phone. @param {number} unsent */
function forgetAll(unsent) {
  forget();
  syncStatus.pendingCount = unsent;
}

let wiping = false;

/** The server said this device is revoked: destroy everything on it. */
async function wipeRevoked() {
  if (wiping) return;
  wiping = true;
  try {
    await device.wipe();
    forgetAll(0);
    await decide(t("error.device_revoked"));
  } finally {
    wiping = false;
  }
  await ui.show();
}
