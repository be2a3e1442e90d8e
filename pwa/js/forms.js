// @ts-check
/**
 * The three things a worker writes: a contact (with a milestone in the same step), a new case,
 * and the next action. Each form keeps a draft in the phone's storage while it is being filled, so a
 * reload, an app update or a dead battery loses no typing; saving writes the record and its
 * mutation and deletes the draft in one transaction, and only then says 「保存しました」.
 */

import * as store from "./store.js";
import { h, add, field, select, formValues, fillForm } from "./dom.js";
import { t, nowLocal, localToIso, today } from "./i18n.js";
import * as records from "./records.js";

/** The form being filled right now, if any (the update banner asks it to save its draft). */
export const editing = {
  /** @type {null | {dirty: boolean, flush: () => Promise<void>}} */
  current: null,
};

/**
 * @param {string} prefix  catalogue prefix, e.g. "method"
 * @param {string[]} ids
 */
function options(prefix, ids) {
  return ids.map((id) => ({ value: id, label: t(`${prefix}.${id}`) }));
}

/**
 * Keep a draft of `form` under `key` while it is edited; restore one if it exists.
 * @param {HTMLFormElement} form
 * @param {string} key
 * @param {HTMLElement} notice  where to say that a draft was restored
 */
export async function keepDraft(form, key, notice) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let chain = Promise.resolve();
  const entry = {
    dirty: false,
    flush: () => {
      clearTimeout(timer);
      if (!entry.dirty) return chain;
      const values = formValues(form);
      chain = chain.then(() => store.write([{ store: "drafts", key, value: { values, at: new Date().toISOString() } }])).then(() => undefined);
      return chain;
    },
    /** Stop saving drafts (the record itself is being saved). */
    stop: async () => {
      clearTimeout(timer);
      entry.dirty = false;
      await chain;
    },
  };
  form.addEventListener("input", () => {
    entry.dirty = true;
    clearTimeout(timer);
    timer = setTimeout(() => void entry.flush(), 250);
  });
  editing.current = entry;
  const draft = await store.get("drafts", key);
  if (draft && draft.values) {
    fillForm(form, draft.values);
    entry.dirty = true;
    notice.textContent = t("pwa.draft_restored");
  }
  return entry;
}

/** A success or failure line that screen readers announce. */
function statusLine() {
  return h("p", { class: "form-status", role: "status" });
}

/**
 * Save a form's record, then say so: `save` writes it (and removes its draft) in one transaction;
 * if that fails the form stays open and says 「保存に失敗しました」, else editing ends and `done`
 * gets 「保存しました」 with what `save` returned. Every form of the app saves through here.
 * @template T
 * @param {HTMLElement} notice  the form's status line
 * @param {() => Promise<T>} save
 * @param {(message: string, saved: T) => void} done
 */
export async function saveRecord(notice, save, done) {
  let saved;
  try {
    saved = await save();
  } catch {
    notice.textContent = t("pwa.save_failed");
    notice.className = "form-status error";
    return;
  }
  editing.current = null;
  done(t("ui.saved"), saved);
}

/**
 * @param {HTMLElement} main
 * @param {any} kase
 * @param {(message: string) => void} done  called after the record is on disk
 */
export async function contactForm(main, kase, done) {
  const v = records.state.vocab;
  const notice = statusLine();
  const companions = records.teamMembers();
  const form = /** @type {HTMLFormElement} */ (h("form", { class: "record" },
    h("p", { class: "hint" }, t("pwa.required_fields")),
    field(t("ui.occurred_at"), h("input", { name: "occurred_at", type: "datetime-local", required: true, value: nowLocal() })),
    field(t("ui.method"), select("method", options("method", v.methods), { required: true, value: "HOME_VISIT" })),
    field(t("ui.counterpart"), select("counterpart", options("counterpart", v.counterparts), { required: true, placeholder: t("pwa.choose") })),
    field(t("ui.outcome"), select("outcome", options("outcome", Object.keys(v.outcomes)), { required: true, placeholder: t("pwa.choose") })),
    field(t("ui.reception"), select("reception", options("reception", v.receptions), { placeholder: t("ui.none") })),
    field(t("ui.note"), h("textarea", { name: "notes", rows: 4 })),
    h("fieldset", { class: "checks" }, h("legend", null, t("ui.risk")),
      v.risk_flags.map((/** @type {string} */ id) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "risk_flags", value: id }), t(`risk_flag.${id}`)))),
    companions.length
      ? h("fieldset", { class: "checks" }, h("legend", null, t("pwa.companions")),
        companions.map((u) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "visitor_ids", value: u.id }), u.display_name || u.username)))
      : null,
    field(t("pwa.duration_min"), h("input", { name: "duration_min", type: "number", min: 0, max: 1440, inputmode: "numeric" })),
    field(t("ui.next_action"), h("input", { name: "next_action", type: "text", autocomplete: "off" })),
    field(t("ui.next_due"), h("input", { name: "next_action_due", type: "date", min: today() })),
    field(t("pwa.milestone_reached"), select("milestone", options("milestone", records.milestoneChoices()), { placeholder: t("ui.none") }), t("pwa.milestone_hint")),
    field(t("pwa.milestone_note"), h("input", { name: "milestone_note", type: "text", autocomplete: "off" })),
    field(t("ui.sharing_basis"), select("sharing_basis", options("sharing_basis", v.sharing_bases), { value: "INTERNAL_ONLY" })),
    notice,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("ui.save"))),
  ));
  const draftKey = `contact:${kase.id}`;
  const draft = await keepDraft(form, draftKey, notice);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const f = formValues(form);
    await draft.stop();
    const contact = {
      case_id: kase.id,
      occurred_at: localToIso(f.occurred_at),
      method: f.method,
      counterpart: f.counterpart,
      outcome: f.outcome,
      reception: f.reception || null,
      duration_min: f.duration_min ? Number(f.duration_min) : null,
      visitor_ids: [records.state.user.id, ...(f.visitor_ids || [])],
      risk_flags: f.risk_flags || [],
      notes: f.notes,
      next_action: f.next_action,
      next_action_due: f.next_action_due || null,
      sharing_basis: f.sharing_basis || "INTERNAL_ONLY",
    };
    const milestone = f.milestone ? { milestone: f.milestone, note: f.milestone_note || "" } : null;
    await saveRecord(notice, () => records.recordContact(contact, milestone, draftKey), done);
  });
  add(main, form);
}

/**
 * @param {HTMLElement} main
 * @param {(message: string, id: string) => void} done
 */
export async function intakeForm(main, done) {
  const v = records.state.vocab;
  const notice = statusLine();
  const text = (/** @type {string} */ name, /** @type {string} */ label, /** @type {Record<string, any>} */ extra = {}) =>
    field(label, h("input", { name, type: "text", autocomplete: "off", ...extra }));
  const form = /** @type {HTMLFormElement} */ (h("form", { class: "record" },
    h("fieldset", null, h("legend", null, t("pwa.person")),
      text("family_name", t("pwa.family_name"), { required: true }),
      text("given_name", t("pwa.given_name")),
      text("family_name_kana", t("pwa.family_name_kana")),
      text("given_name_kana", t("pwa.given_name_kana")),
      text("preferred_name", t("pwa.preferred_name")),
      field(t("pwa.birth_date"), h("input", { name: "birth_date", type: "date" })),
      field(t("pwa.phone"), h("input", { name: "phone", type: "tel", autocomplete: "off" }))),
    h("fieldset", null, h("legend", null, t("pwa.household")),
      text("postal_code", t("pwa.postal_code"), { inputmode: "numeric" }),
      text("prefecture", t("pwa.prefecture")),
      text("municipality", t("pwa.municipality")),
      text("town", t("pwa.town")),
      text("block", t("pwa.block")),
      text("building", t("pwa.building"))),
    h("fieldset", { class: "checks" }, h("legend", null, t("pwa.categories")),
      v.categories.map((/** @type {string} */ id) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "categories", value: id }), t(`category.${id}`)))),
    field(t("pwa.referral_source"), select("referral_source", options("referral_source", v.referral_sources), { required: true, placeholder: t("pwa.choose") })),
    field(t("pwa.identified_on"), h("input", { name: "identified_on", type: "date", value: today(), required: true })),
    field(t("ui.next_action"), h("input", { name: "next_action", type: "text", autocomplete: "off" })),
    field(t("ui.next_due"), h("input", { name: "next_action_due", type: "date" })),
    notice,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("ui.save"))),
  ));
  const draftKey = "case:new";
  const draft = await keepDraft(form, draftKey, notice);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const f = formValues(form);
    await draft.stop();
    const address = ["postal_code", "prefecture", "municipality", "town", "block", "building"];
    const household = address.some((k) => f[k]) ? Object.fromEntries(address.map((k) => [k, f[k]])) : null;
    const args = {
      person: {
        family_name: f.family_name, given_name: f.given_name, family_name_kana: f.family_name_kana,
        given_name_kana: f.given_name_kana, preferred_name: f.preferred_name, birth_date: f.birth_date || null, phone: f.phone,
      },
      household,
      categories: f.categories || [],
      referral_source: f.referral_source,
      identified_on: f.identified_on,
      next_action: f.next_action,
      next_action_due: f.next_action_due || null,
    };
    await saveRecord(notice, () => records.createCase(args, draftKey), done);
  });
  add(main, form);
}

/**
 * @param {HTMLElement} main
 * @param {any} kase
 * @param {(message: string) => void} done
 */
export async function nextActionForm(main, kase, done) {
  const notice = statusLine();
  const form = /** @type {HTMLFormElement} */ (h("form", { class: "record" },
    field(t("ui.next_action"), h("input", { name: "next_action", type: "text", autocomplete: "off", value: kase.next_action || "" })),
    field(t("ui.next_due"), h("input", { name: "next_action_due", type: "date", value: kase.next_action_due || "" })),
    notice,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("ui.save"))),
  ));
  const draftKey = `next:${kase.id}`;
  const draft = await keepDraft(form, draftKey, notice);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = formValues(form);
    await draft.stop();
    /** @type {Record<string, unknown>} */
    const changes = {};
    if (f.next_action !== (kase.next_action || "")) changes.next_action = f.next_action;
    if ((f.next_action_due || null) !== (kase.next_action_due || null)) changes.next_action_due = f.next_action_due || null;
    await saveRecord(notice, async () => {
      if (Object.keys(changes).length) await records.updateCase(kase.id, changes, draftKey);
      else await store.write([{ store: "drafts", key: draftKey, remove: true }]);
    }, done);
  });
  add(main, form);
}
