// @ts-check
/** The screens that show things: sign-in, the caseload, a case with its timeline, settings. */

import { h, add, whenIdle } from "./dom.js";
import { t, formatDate, formatDateTime, today, daysBetween, language, setLanguage, eraDates, setEraDates } from "./i18n.js";
import * as records from "./records.js";
import { api, ApiFailure } from "./api.js";
import * as device from "./device.js";
import { field } from "./dom.js";
import * as platform from "./platform.js";
import * as alertsview from "./alerts.js";
import * as notify from "./notify.js";

function languageSwitch() {
  const other = language() === "ja" ? "en" : "ja";
  return h("button", { type: "button", class: "link", lang: other, onclick: async () => { await setLanguage(other); window.dispatchEvent(new Event("yorisoi:language")); } },
    t(`lang.${other}`));
}

/**
 * @param {HTMLElement} main
 * @param {{signedIn: (user: any) => Promise<void>, before: (username: string) => Promise<string | null>}} flow
 *   `before` runs ahead of the request (another user here needs a new installation) and may refuse
 * @param {string | null} reason  why the worker sees this screen (session ended, wiped …)
 */
export function signIn(main, flow, reason) {
  const error = h("p", { class: "error", role: "alert" });
  const totp = field(t("auth.totp"), h("input", { name: "totp", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}" }), t("auth.totp_hint"));
  totp.hidden = true;
  const button = h("button", { type: "submit", class: "primary" }, t("auth.sign_in"));
  const form = /** @type {HTMLFormElement} */ (h("form", { class: "record" },
    field(t("auth.username"), h("input", { name: "username", autocomplete: "username", required: true, autocapitalize: "none" })),
    field(t("auth.password"), h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    totp,
    error,
    h("div", { class: "actions" }, button),
  ));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const data = new FormData(form);
    button.setAttribute("disabled", "");
    error.textContent = "";
    try {
      // The phone belongs to one user at a time (its id is that user's device on the server).
      const refused = await flow.before(String(data.get("username")));
      if (refused) {
        error.textContent = refused;
        return;
      }
      const body = {
        username: String(data.get("username")),
        password: String(data.get("password")),
        device_id: await device.id(),
        ...(totp.hidden ? {} : { totp: String(data.get("totp") || "") }),
      };
      const answer = await api("POST", "/api/session", body);
      await flow.signedIn(answer.user);
    } catch (err) {
      const f = err instanceof ApiFailure ? err : new ApiFailure("network", 0, "network");
      if (f.code === "totp_required" || f.code === "totp_invalid") {
        totp.hidden = false;
        /** @type {HTMLInputElement} */ (totp.querySelector("input")).required = true;
      }
      error.textContent = f.kind === "http" ? t(`error.${f.code}`) : t("pwa.sign_in_offline");
      if (error.textContent === `error.${f.code}`) error.textContent = t("error.internal_error");
    } finally {
      button.removeAttribute("disabled");
    }
  });
  add(main,
    h("h1", null, t("auth.title")),
    reason ? h("p", { class: "notice", role: "status" }, reason) : null,
    form,
    h("p", null, languageSwitch()),
    platform.homeScreenHint(),
  );
}

/** @param {any} c */
function lastReached(c) {
  if (!c.last_reached_at) return t("pwa.never_reached");
  const days = daysBetween(c.last_reached_at.slice(0, 10), today());
  return t("pwa.last_reached", { date: formatDate(c.last_reached_at), days: Math.max(0, days) });
}

/** @param {any} c */
function dueLine(c) {
  if (!c.next_action_due) return h("span", { class: "due none" }, t("pwa.no_next_action"));
  return h("span", { class: c.overdue ? "due overdue" : "due" },
    c.overdue ? h("strong", { class: "badge warn" }, t("pwa.overdue")) : null,
    ` ${formatDate(c.next_action_due)} `,
    c.next_action || "");
}

/**
 * Cards drawn with the caseload's first frame: more than a phone shows (five or six). The rest
 * follow once that frame is painted and the page is idle — building, styling and painting ≈ 265
 * cards held the caseload's first frame ≈ 0.2–0.4 s on a slow phone, after an unlock and after a
 * first sync.
 */
export const FIRST_CARDS = 20;

/**
 * @param {HTMLElement} main
 * @param {boolean} [whole]  every card at once (a redraw that keeps the scroll position needs them)
 */
export function caseload(main, whole = false) {
  const cases = records.caseload();
  const first = whole ? cases : cases.slice(0, FIRST_CARDS);
  const list = h("ul", { class: "cases" }, first.map(caseCard));
  add(main,
    h("h1", null, t("ui.my_cases")),
    platform.homeScreenHint(),
    alertsview.homeLink(),
    records.orphanProblems().map(problemCard),
    cases.length === 0 ? h("p", null, t("pwa.no_cases")) : null,
    list,
    h("p", null, h("a", { class: "button", href: "#/new" }, t("pwa.new_case"))),
  );
  if (first.length < cases.length) {
    // Dropped if the screen was redrawn or left meanwhile (the list is no longer in the page).
    whenIdle(() => {
      if (list.isConnected) add(list, cases.slice(first.length).map(caseCard));
    });
  }
}

/** @param {ReturnType<typeof records.caseload>[number]} c */
function caseCard(c) {
  return h("li", null,
    h("a", { class: "card case-card", href: `#/case/${c.id}` },
      h("span", { class: "name" }, c.name),
      h("span", { class: "line" }, dueLine(c)),
      h("span", { class: "line" }, t("pwa.stage"), ": ", c.stage ? t(`milestone.${c.stage}`) : t("ui.none")),
      h("span", { class: "line muted" }, lastReached(c)),
      c.pending ? h("span", { class: "badge" }, t("pwa.pending")) : null,
      c.problems ? h("span", { class: "badge warn" }, t("pwa.needs_attention")) : null,
      alertsview.caseBadge(c.id)));
}


/** @param {records.Attention} item */
function problemCard(item) {
  const v = item.value;
  const what = t(`pwa.mutation.${v.mutation.name}`);
  const body = [];
  if (v.status === "conflict") {
    body.push(h("p", null, t("pwa.conflict_explained", { what })));
    for (const c of v.conflicts || []) {
      const label = t(`pwa.field.${c.field}`);
      body.push(h("p", { class: "conflict-values" }, t("pwa.conflict_values", {
        field: label === `pwa.field.${c.field}` ? c.field : label,
        mine: show(records.unwrap(c.client_value)),
        theirs: show(records.unwrap(c.server_value)),
      })));
    }
    body.push(h("p", null, t("pwa.conflict_next")));
    body.push(h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => records.resendConflict(item) }, t("pwa.conflict_keep_mine")),
      h("button", { type: "button", class: "secondary", onclick: () => records.dismiss(item.key) }, t("pwa.conflict_keep_theirs"))));
  } else {
    const reason = v.error?.code ? t(`error.${v.error.code}`) : "";
    body.push(h("p", null, t("pwa.rejected_explained", { what })));
    if (reason && !reason.startsWith("error.")) body.push(h("p", null, reason));
    else if (v.error?.message) body.push(h("p", null, v.error.message));
    body.push(h("p", null, t("pwa.rejected_next")));
    const caseShown = Boolean(records.caseById(v.mutation.case_id));
    const redoable = v.mutation.name === "case.create" || (caseShown && ["contact.create", "case.update"].includes(v.mutation.name));
    body.push(h("div", { class: "actions" },
      redoable ? h("button", { type: "button", onclick: async () => { const hash = await records.redo(item); if (hash) location.hash = hash; } }, t("pwa.redo")) : null,
      h("button", { type: "button", class: "secondary", onclick: () => records.dismiss(item.key) }, t("pwa.dismiss"))));
  }
  return h("section", { class: "card problem", role: "group", "aria-label": t(v.status === "conflict" ? "pwa.conflict" : "pwa.rejected") },
    h("h2", null, t(v.status === "conflict" ? "pwa.conflict" : "pwa.rejected")), body);
}

/** @param {unknown} value */
function show(value) {
  if (value === null || value === undefined || value === "") return t("ui.none");
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value)) return formatDate(value);
  return String(value);
}

/** @param {any} item */
function timelineItem(item) {
  const state = item._pending ? h("span", { class: "badge" }, t("pwa.pending")) : null;
  if (item.kind === "milestone") {
    return h("li", { class: "tl milestone" },
      h("p", { class: "when" }, formatDate(item.reached_on), " ", state),
      h("p", null, h("strong", null, t("ui.milestone"), ": ", t(`milestone.${item.milestone}`))),
      item.note ? h("p", null, item.note) : null);
  }
  return h("li", { class: "tl contact" },
    h("p", { class: "when" }, formatDateTime(item.occurred_at), " ", state),
    h("p", null, h("strong", null, t(`method.${item.method}`)), " ・ ", t(`outcome.${item.outcome}`)),
    item.reception ? h("p", { class: "muted" }, t("ui.reception"), ": ", t(`reception.${item.reception}`)) : null,
    item.notes ? h("p", { class: "notes" }, item.notes) : null,
    item.next_action_due ? h("p", { class: "muted" }, t("ui.next_due"), ": ", formatDate(item.next_action_due), " ", item.next_action || "") : null);
}

/** @param {HTMLElement} main @param {any} c */
export function casePage(main, c) {
  if (!c) {
    add(main, h("h1", null, t("error.not_found")), h("p", null, h("a", { href: "#/" }, t("ui.back"))));
    return;
  }
  const problems = records.problemsFor(c.id);
  add(main,
    h("p", null, h("a", { href: "#/" }, t("ui.my_cases"))),
    h("h1", null, c.name),
    problems.map(problemCard),
    alertsview.caseAlerts(c.id),
    h("dl", { class: "facts" },
      h("dt", null, t("pwa.stage")), h("dd", null, c.stage ? t(`milestone.${c.stage}`) : t("ui.none")),
      h("dt", null, t("pwa.last_reached_label")), h("dd", null, lastReached(c)),
      h("dt", null, t("ui.next_action")), h("dd", null, dueLine(c)),
      c.categories?.length ? [h("dt", null, t("pwa.categories")), h("dd", null, c.categories.map((/** @type {string} */ x) => t(`category.${x}`)).join("、"))] : null),
    h("div", { class: "actions stack" },
      h("a", { class: "button primary", href: `#/case/${c.id}/contact` }, t("ui.record_contact")),
      h("a", { class: "button secondary", href: `#/case/${c.id}/next` }, t("pwa.change_next_action"))),
    h("h2", null, t("pwa.timeline")),
    (() => {
      const items = records.timeline(c.id);
      return items.length ? h("ol", { class: "timeline" }, items.map(timelineItem)) : h("p", null, t("pwa.no_contacts"));
    })(),
  );
}

/**
 * @param {HTMLElement} main
 * @param {{persisted: boolean | null, signOut: () => Promise<void>, lock: () => Promise<void>}} opts
 */
export function settings(main, opts) {
  const era = h("input", { type: "checkbox", id: "era", checked: eraDates(), onchange: (/** @type {Event} */ e) => setEraDates(/** @type {HTMLInputElement} */ (e.target).checked) });
  const lang = h("select", { id: "lang", onchange: async (/** @type {Event} */ e) => { await setLanguage(/** @type {HTMLSelectElement} */ (e.target).value); window.dispatchEvent(new Event("yorisoi:language")); } },
    ["ja", "en"].map((l) => h("option", { value: l, selected: l === language(), lang: l }, t(`lang.${l}`))));
  const user = records.state.user;
  add(main,
    h("h1", null, t("ui.settings")),
    user ? h("p", null, t("auth.signed_in_as", { name: user.display_name || user.username })) : null,
    h("div", { class: "field" }, h("label", { for: "lang" }, t("ui.language")), lang),
    h("div", { class: "field" }, h("label", { class: "check", for: "era" }, era, t("ui.show_wareki"))),
    h("section", { class: "card" }, h("h2", null, t("pwa.storage_title")),
      h("p", null, opts.persisted === true ? t("pwa.storage_persisted") : opts.persisted === false ? t("pwa.storage_not_persisted") : t("pwa.storage_unknown"))),
    notify.settingsCard(),
    platform.homeScreenCard(),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => opts.lock() }, t("pwa.lock_now")),
      h("button", { type: "button", class: "secondary", onclick: () => opts.signOut() }, t("auth.sign_out"))),
  );
}

/**
 * Ask before signing out with records not yet sent. Resolves true when the worker chose to sign out.
 * @param {number} count
 * @returns {Promise<boolean>}
 */
export function confirmSignOut(count) {
  return new Promise((resolve) => {
    const dialog = /** @type {HTMLDialogElement} */ (h("dialog", { class: "card", "aria-labelledby": "so-title", "aria-describedby": "so-body" },
      h("h2", { id: "so-title" }, t("pwa.signout_unsent_title")),
      h("p", { id: "so-body" }, t("pwa.signout_unsent_body", { count })),
      h("div", { class: "actions stack" },
        h("button", { type: "button", class: "primary", onclick: () => close(false) }, t("pwa.signout_stay")),
        h("button", { type: "button", class: "secondary", onclick: () => close(true) }, t("pwa.signout_keep")))));
    /** @param {boolean} answer */
    function close(answer) {
      dialog.close();
      dialog.remove();
      resolve(answer);
    }
    dialog.addEventListener("cancel", () => close(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}
