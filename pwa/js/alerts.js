// @ts-check
/**
 * Alerts in the field app: the list (`#/alerts`), one alert with 「確認を記録」 (`#/alerts/<id>`), the
 * link on the caseload and the cards on a case page.
 *
 * Where they come from: the sync pull carries the live alerts of the worker's scope (open and
 * acknowledged; a resolved one arrives as a removal) with the cases, so the list is the same
 * sealed records the rest of the app shows, and works without signal. An acknowledgement is an
 * `alert.acknowledge` mutation in the outbox, shown at once and sent with the next sync.
 * Alerts about a staff member's phone (端末が未同期) belong to no case and are not pulled: with
 * signal the list asks `GET /api/alerts` for them and shows them without storing anything.
 *
 * Wording (DOMAIN.md): an alert says 「振り返りが必要です」 — what the records suggest, never who is
 * to blame.
 */

import { h, add, field } from "./dom.js";
import { t, formatDate, today } from "./i18n.js";
import * as records from "./records.js";
import { keepDraft, saveRecord } from "./forms.js";
import { api } from "./api.js";

const LEVEL_ORDER = ["urgent", "meeting", "warning", "review", "caution"];
const NOTE_MAX = 2000;

/** @param {any} a */
function headline(a) {
  return a.rule === "R" ? t("alert_rule.R") : t("alert.needs_review");
}

/**
 * The live alerts, the open ones first, then by level and age. Computed once per change of the
 * records (reload() replaces the records map and the outbox list): the caseload asks for every card.
 */
let cache = {
  records: /** @type {unknown} */ (null),
  outbox: /** @type {unknown} */ (null),
  list: /** @type {any[]} */ ([]),
  /** each case's first open alert in that order (its card's mark) */
  firstOpen: /** @type {Map<string, any>} */ (new Map()),
};
function current() {
  const { records: r, outbox: o } = records.state;
  if (cache.records === r && cache.outbox === o) return cache;
  // Times are ISO 8601 text: compared as code units (localeCompare's collation is slow to set up).
  const list = records.alerts().sort((x, y) =>
    Number(x.state !== "open") - Number(y.state !== "open")
    || LEVEL_ORDER.indexOf(x.level) - LEVEL_ORDER.indexOf(y.level)
    || (String(x.opened_at) < String(y.opened_at) ? -1 : String(x.opened_at) > String(y.opened_at) ? 1 : 0));
  const firstOpen = new Map();
  for (const a of list) if (a.state === "open" && !firstOpen.has(a.case_id)) firstOpen.set(a.case_id, a);
  cache = { records: r, outbox: o, list, firstOpen };
  return cache;
}
function sorted() {
  return current().list;
}

/** Open alerts (not yet acknowledged, on the phone either). */
export function openCount() {
  return sorted().filter((a) => a.state === "open").length;
}

/** Case id → the person's name, for one screen. */
function caseNames() {
  return new Map(records.caseload().map((c) => [c.id, c.name]));
}

/** @param {any} a */
function stateLine(a) {
  const parts = [t("alerts.opened"), ": ", formatDate(a.opened_at), " ・ ", t(`alert_state.${a.state}`)];
  if (a.state === "acknowledged" && a.ack_next_date) parts.push(" ・ ", t("alerts.next_date"), ": ", formatDate(a.ack_next_date));
  return parts.join("");
}

/** @param {any} a */
function levelBadge(a) {
  return h("span", { class: a.level === "urgent" ? "badge urgent" : "badge warn" }, t(`alert_level.${a.level}`));
}

/** @param {any} a @param {Map<string, string>} names */
function alertCard(a, names) {
  return h("li", null,
    h("a", { class: "card alert-card", href: `#/alerts/${a.id}` },
      h("span", { class: "line" }, levelBadge(a), " ", h("strong", null, headline(a))),
      h("span", { class: "name" }, names.get(a.case_id) || t("pwa.alert_case_unknown")),
      h("span", { class: "line" }, t(`alert_rule.${a.rule}`)),
      h("span", { class: "line muted" }, stateLine(a)),
      a._pending ? h("span", { class: "badge" }, t("pwa.pending")) : null));
}

/** On the caseload: the way to the list, with the number still to look at. */
export function homeLink() {
  const count = openCount();
  return h("p", null, h("a", { class: count ? "button alerts-link has-open" : "button secondary alerts-link", href: "#/alerts" },
    t("ui.alerts"), count ? " " : null, count ? h("span", { class: "badge count" }, t("pwa.alerts_open_count", { count })) : null));
}

/** A case card's mark: the case has an alert nobody has looked at yet (the most pressing one). @param {string} caseId */
export function caseBadge(caseId) {
  const first = current().firstOpen.get(caseId);
  if (!first) return null;
  return h("span", { class: first.rule === "R" ? "badge urgent" : "badge warn" }, headline(first));
}

/** On a case page: its live alerts, each leading to its page. @param {string} caseId */
export function caseAlerts(caseId) {
  const mine = sorted().filter((a) => a.case_id === caseId);
  if (!mine.length) return null;
  return h("section", { class: "card problem", "aria-labelledby": "case-alerts" },
    h("h2", { id: "case-alerts" }, t("ui.alerts")),
    h("ul", { class: "plain" }, mine.map((a) => h("li", null,
      h("a", { href: `#/alerts/${a.id}` }, headline(a), "：", t(`alert_rule.${a.rule}`)),
      " ", h("span", { class: "muted" }, t(`alert_state.${a.state}`))))));
}

/** Every list the server gives is audited: the list redraws after each sync, so ask at most this often. */
const STAFF_MS = 5 * 60_000;
let staff = { at: 0, user: /** @type {string | null} */ (null), items: /** @type {any[]} */ ([]) };

/** Alerts about staff phones (no case): from the server, kept in memory only. */
async function staffItems() {
  const user = records.state.user?.id || null;
  if (user && staff.user === user && Date.now() - staff.at < STAFF_MS) return staff.items;
  const answer = await api("GET", "/api/alerts");
  staff = { at: Date.now(), user, items: (answer?.alerts || []).filter((/** @type {any} */ a) => !a.case_id) };
  return staff.items;
}

/**
 * Alerts about staff phones, asked from the server with signal (no case, no name of anyone but
 * staff). Returns the list element, filled when the answer comes.
 */
function staffAlerts() {
  const slot = h("section", { "aria-live": "polite" });
  if (!navigator.onLine || !records.state.user) return slot;
  void staffItems().then((items) => {
    if (!items.length) return;
    const members = records.state.records.get("reference:reference")?.members || [];
    const who = (/** @type {string} */ id) => members.find((/** @type {any} */ m) => m.id === id)?.display_name || t("alerts.device_of_worker");
    add(slot, h("h2", null, t("pwa.alerts_staff")),
      h("ul", { class: "cases" }, items.map((/** @type {any} */ a) => h("li", { class: "card" },
        h("p", null, levelBadge(a), " ", h("strong", null, a.label)),
        h("p", null, who(a.subject_user_id)),
        h("p", { class: "muted" }, stateLine(a)),
        h("p", null, h("a", { href: a.url }, t("pwa.alert_open_office")))))));
  }).catch(() => undefined);
  return slot;
}

/** @param {HTMLElement} main */
export function list(main) {
  const items = sorted();
  const names = caseNames();
  add(main,
    h("p", null, h("a", { href: "#/" }, t("ui.my_cases"))),
    h("h1", null, t("ui.alerts")),
    h("p", null, t("pwa.alerts_intro")),
    items.length ? h("ul", { class: "cases" }, items.map((a) => alertCard(a, names))) : h("p", null, t("ui.no_alerts")),
    staffAlerts());
}

/**
 * One alert: what the records suggest, and 「確認を記録」 (a note and the next planned date).
 * @param {HTMLElement} main
 * @param {string} id
 * @param {(message: string) => void} done  called once the acknowledgement is on disk
 */
export async function detail(main, id, done) {
  const a = sorted().find((x) => x.id === id);
  add(main, h("p", null, h("a", { href: "#/alerts" }, t("alerts.back"))));
  if (!a) {
    add(main, h("h1", null, t("ui.alerts")), h("p", null, t("pwa.alert_not_here")));
    return;
  }
  const kase = records.caseById(a.case_id);
  add(main,
    h("h1", null, headline(a)),
    h("p", null, kase ? h("a", { href: `#/case/${kase.id}` }, kase.name) : t("pwa.alert_case_unknown")),
    h("dl", { class: "facts" },
      h("dt", null, t("alerts.rule")), h("dd", null, t(`alert_rule.${a.rule}`)),
      h("dt", null, t("alerts.level")), h("dd", null, levelBadge(a)),
      h("dt", null, t("alerts.opened")), h("dd", null, formatDate(a.opened_at)),
      h("dt", null, t("alerts.state")), h("dd", null, t(`alert_state.${a.state}`), " ", a._pending ? h("span", { class: "badge" }, t("pwa.pending")) : null),
      a.state === "acknowledged" ? [
        h("dt", null, t("alerts.note")), h("dd", { class: "notes" }, a.ack_note || ""),
        h("dt", null, t("alerts.next_date")), h("dd", null, formatDate(a.ack_next_date)),
      ] : null));
  if (a.rule === "DEVICE_UNSYNCED") return; // acknowledged at the office
  const notice = h("p", { class: "form-status", role: "status" });
  const form = /** @type {HTMLFormElement} */ (h("form", { class: "record", "aria-labelledby": "ack-title" },
    h("h2", { id: "ack-title" }, t("pwa.alert_ack_title")),
    h("p", { class: "hint" }, t("pwa.alert_ack_hint")),
    field(t("alerts.note"), h("textarea", { name: "note", rows: 3, required: true, maxlength: NOTE_MAX })),
    field(t("alerts.next_date"), h("input", { name: "next_date", type: "date", required: true, min: today() })),
    notice,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("pwa.alert_ack_button")))));
  const draftKey = `ack:${a.id}`;
  const draft = await keepDraft(form, draftKey, notice);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const note = String(data.get("note") || "").trim();
    if (!note) /** @type {HTMLTextAreaElement} */ (form.elements.namedItem("note")).value = "";
    if (!form.reportValidity()) return;
    await draft.stop();
    await saveRecord(notice, () => records.acknowledgeAlert(a, note, String(data.get("next_date")), draftKey), done);
  });
  add(main, form);
}
