// @ts-check
/**
 * The two screens of the lock: setting a PIN (fields 「PIN」 and 「PIN（確認）」, button 「設定」) and
 * unlocking (field 「PIN」, button 「解除」). They show nothing personal: the key is not in memory.
 * The PIN never leaves this page — it is only fed to PBKDF2 (js/keys.js).
 */

import { h, add, field } from "./dom.js";
import { t } from "./i18n.js";
import * as keys from "./keys.js";

/** @param {string} autocomplete */
function pinInput(autocomplete) {
  return /** @type {HTMLInputElement} */ (h("input", {
    type: "password", inputmode: "numeric", autocomplete, required: true, minlength: 6, maxlength: 12,
    pattern: "[0-9]{6,12}", spellcheck: "false",
  }));
}

/**
 * @param {HTMLElement} main
 * @param {{recovered: boolean, done: () => Promise<void>}} opts
 */
export function pinSetup(main, opts) {
  const pin = pinInput("new-password");
  const again = pinInput("new-password");
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, t("pwa.pin_set"));
  const form = /** @type {HTMLFormElement} */ (h("form", { class: "record", novalidate: true },
    field(t("pwa.pin"), pin, t("pwa.pin_hint")),
    field(t("pwa.pin_confirm"), again),
    error,
    h("div", { class: "actions" }, button)));
  // The new PIN's key is derived as soon as both fields agree, before 「設定」 is pressed (js/keys.js).
  const typed = () => {
    if (pin.value === again.value) keys.deriveAhead(pin.value, true);
  };
  pin.addEventListener("input", typed);
  again.addEventListener("input", typed);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const problem = keys.pinProblem(pin.value) || (pin.value !== again.value ? "pwa.pin_mismatch" : null);
    if (problem) {
      error.textContent = t(problem);
      (problem === "pwa.pin_mismatch" ? again : pin).focus();
      return;
    }
    button.setAttribute("disabled", "");
    try {
      await keys.setPin(pin.value);
      pin.value = again.value = "";
      await opts.done();
    } catch {
      error.textContent = t("pwa.save_failed");
    } finally {
      button.removeAttribute("disabled");
    }
  });
  add(main,
    h("h1", null, t("pwa.pin_setup_title")),
    opts.recovered ? h("p", { class: "notice", role: "status" }, t("pwa.pin_setup_recovered")) : null,
    h("p", null, t("pwa.pin_setup_body")),
    form);
  pin.focus();
}

/**
 * @param {HTMLElement} main
 * @param {{reason: string | null, unlock: (pin: string) => Promise<string | null>, forgot: () => void}} opts
 *   `unlock` resolves null when the app opened, or the message to show
 */
export function lockScreen(main, opts) {
  const pin = pinInput("current-password");
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, t("pwa.pin_unlock"));
  const form = /** @type {HTMLFormElement} */ (h("form", { class: "record" },
    field(t("pwa.pin"), pin),
    error,
    h("div", { class: "actions" }, button)));
  // The PIN's key is derived as it is typed, before 「解除」 is pressed (js/keys.js).
  pin.addEventListener("input", () => keys.deriveAhead(pin.value, false));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!pin.value) return;
    button.setAttribute("disabled", "");
    button.textContent = t("pwa.unlocking");
    error.textContent = "";
    const value = pin.value;
    pin.value = "";
    try {
      const message = await opts.unlock(value);
      if (message) {
        error.textContent = message;
        pin.focus();
      }
    } finally {
      button.removeAttribute("disabled");
      button.textContent = t("pwa.pin_unlock");
    }
  });
  add(main,
    h("h1", null, t("pwa.locked_title")),
    opts.reason ? h("p", { class: "notice", role: "status" }, opts.reason) : null,
    h("p", null, t("pwa.locked_body")),
    form,
    h("p", null, h("button", { type: "button", class: "link", onclick: () => opts.forgot() }, t("pwa.pin_forgot"))));
  pin.focus();
}
