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
import { keepDraft, editing } from "./forms.js";
import { api } from "./api.js";

const LEVEL_ORDER = ["urgent", "meeting", "warning", "review", "caution"];
const NOTE_MAX = 2000;

/** @param {any} a */
function headline(a) {
  return a.rule === "R" ? t("alert_rule.R") : t("alert.needs_review");
}

/** The live alerts, the open ones first, then by level and age. */
function sorted() {
  return records.alerts().sort((x, y) =>
    Number(x.state !== "open") - Number(y.state !== "open")
    || LEVEL_ORDER.indexOf(x.level) - LEVEL_ORDER.indexOf(y.level)
    || String(x.opened_at).localeCompare(String(y.opened_at)));
}

/** Open alerts (not yet acknowledged, on the phone either). */
export function openCount() {
  return records.alerts().filter((a) => a.state === "open").length;
}

/** @param {string} caseId */
function caseName(caseId) {
  return records.caseById(caseId)?.name || t("pwa.alert_case_unknown");
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

/** @param {any} a */
function alertCard(a) {
  return h("li", null,
    h("a", { class: "card alert-card", href: `#/alerts/${a.id}` },
      h("span", { class: "line" }, levelBadge(a), " ", h("strong", null, headline(a))),
      h("span", { class: "name" }, caseName(a.case_id)),
      h("span", { class: "line" }, t(`alert_rule.${a.rule}`)),
      h("span", { class: "line muted" }, stateLine(a)),
      a._pending ? h("span", { class: "badge" }, t("pwa.pending")) : null));
}

/** On the caseload: the way to the list, with the number still to look at. */
export function homeLink() {
  const count = openCount();
  return h("p", null, h("a", { class: count ? "button alerts-link has-open" : "button secondary alerts-link", href: "#/alerts" },
    t("ui.alerts"), " ", count ? h("span", { class: "badge count", "aria-label": t("pwa.alerts_open_count", { count }) }, String(count)) : null));
}

/** A case card's mark: the case has an alert nobody has looked at yet. @param {string} caseId */
export function caseBadge(caseId) {
  const open = records.alerts().some((a) => a.case_id === caseId && a.state === "open");
  return open ? h("span", { class: "badge warn" }, t("alert.needs_review")) : null;
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

/**
 * Alerts about staff phones, asked from the server with signal (memory only: no case, no name of
 * anyone but staff). Returns the list element, filled when the answer comes.
 */
function staffAlerts() {
  const slot = h("section", { "aria-live": "polite" });
  if (!navigator.onLine) return slot;
  void api("GET", "/api/alerts").then((answer) => {
    const items = (answer?.alerts || []).filter((/** @type {any} */ a) => !a.case_id);
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
  add(main,
    h("p", null, h("a", { href: "#/" }, t("ui.my_cases"))),
    h("h1", null, t("ui.alerts")),
    h("p", null, t("pwa.alerts_intro")),
    items.length ? h("ul", { class: "cases" }, items.map(alertCard)) : h("p", null, t("ui.no_alerts")),
    staffAlerts());
}

/**
 * One alert: what the records suggest, and 「確認を記録」 (a note and the next planned date).
 * @param {HTMLElement} main
 * @param {string} id
 * @param {(message: string) => void} done  called once the acknowledgement is on disk
 */
export async function detail(main, id, done) {
  const a = records.alerts().find((x) => x.id === id);
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
    try {
      await records.acknowledgeAlert(a, note, String(data.get("next_date")), draftKey);
    } catch {
      notice.textContent = t("pwa.save_failed");
      notice.className = "form-status error";
      return;
    }
    editing.current = null;
    done(t("ui.saved"));
  });
  add(main, form);
}
