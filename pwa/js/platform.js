// @ts-check
/**
 * Which platform this is: an iPhone, in a Safari tab or from the home screen. Everything optional
 * is detected where it is used, never assumed from the browser's name, and the app works without it
 * (docs/field-app.md, "Browsers"):
 *
 * - Background Sync (Chromium only): without it, the app sends when it opens, when the network comes
 *   back, every minute while open, and on 「今すぐ同期」.
 * - Push (an iPhone offers it only to an app added to the home screen): without it, alerts are
 *   still listed in the app.
 * - Persistent storage (`navigator.storage.persist`): without it (or refused), the settings say the
 *   browser may clear data on the phone, and to sync often.
 *
 * An iPhone's Safari tab has no push, and Safari clears a site's stored data after about a week of
 * use without a visit to it; an app added to the home screen gets push and is spared that clearing,
 * so the app tells an iPhone user to add it.
 */

import { h } from "./dom.js";
import { t } from "./i18n.js";

/** An iPhone or iPad: by name, by iPadOS's Mac-with-touch disguise, or by Safari's iOS-only `navigator.standalone`. */
export function isIos() {
  const ua = navigator.userAgent;
  return /iPad|iPhone|iPod/.test(ua)
    || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)
    || /** @type {any} */ (navigator).standalone === false;
}

/** Opened from the home screen (installed), not in a browser tab. */
export function isStandalone() {
  return window.matchMedia?.("(display-mode: standalone)").matches || /** @type {any} */ (navigator).standalone === true;
}

/** An iPhone user who should add the app to the home screen (for notifications and to keep records; js/notify.js). */
export function needsHomeScreen() {
  return isIos() && !isStandalone();
}

/** The hint for the home and sign-in screens: how to add the app to the home screen, and why. */
export function homeScreenHint() {
  if (!needsHomeScreen()) return null;
  return h("aside", { class: "card hint-card", "aria-labelledby": "ios-hint-title" },
    h("h2", { id: "ios-hint-title" }, t("pwa.ios_install_title")),
    h("p", null, t("pwa.ios_install_steps")),
    h("p", null, t("pwa.ios_install_why")));
}

/** The same advice for the settings screen, which also says when it has been followed. */
export function homeScreenCard() {
  if (!isIos()) return null;
  return h("section", { class: "card" },
    h("h2", null, t("pwa.ios_install_title")),
    h("p", null, isStandalone() ? t("pwa.ios_installed") : t("pwa.ios_install_steps")),
    h("p", null, t("pwa.ios_install_why")));
}
