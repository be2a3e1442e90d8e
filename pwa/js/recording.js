// @ts-check
/**
 * Recording: what the worker writes goes into the outbox as a mutation (sent by js/sync.js), in
 * one transaction with the removal of the form's draft. Once that write is on disk the memory copy
 * (js/state.js) gets the same change — nothing is read back — and the form says 「保存しました」.
 */

import * as store from "./store.js";
import * as history from "./history.js";
import { isoToLocal } from "./i18n.js";
import { state, changed } from "./state.js";

/**
 * @typedef {import("./state.js").Mutation} Mutation
 * @typedef {import("./state.js").Queued} Queued
 * @typedef {import("./state.js").Attention} Attention
 */

/**
 * @param {string} name
 * @param {any} args
 * @param {string} ref
 * @param {string} caseId
 * @returns {store.Append}
 */
function mutation(name, args, ref, caseId) {
  return { store: "outbox", key: crypto.randomUUID(), append: { name, args, client_time: new Date().toISOString(), ref, case_id: caseId } };
}

/**
 * Write `ops` in one transaction, then make the same change to what is in memory — the outbox
 * entries appended, the attention entries removed — instead of reading everything back.
 * @param {store.Op[]} ops
 */
async function commit(ops) {
  const mids = await store.write(ops);
  const appended = /** @type {store.Append[]} */ (ops.filter((op) => "append" in op));
  const removed = new Set(ops.filter((op) => op.store === "attention" && "remove" in op).map((op) => /** @type {store.Remove} */ (op).key));
  /** @type {Queued[]} */
  const queued = appended.map((op, i) => ({ key: String(op.key), mid: mids[i], mutation: /** @type {Mutation} */ (op.append) }));
  state.outbox = [...state.outbox, ...queued];
  if (removed.size) state.attention = state.attention.filter((a) => !removed.has(a.key));
  changed();
}

/**
 * Record a contact and, in the same step, a milestone. Resolves once both are on disk.
 * @param {any} contact  contact.create args without id
 * @param {{milestone: string, note: string} | null} milestone
 * @param {string} [draftKey]
 */
export async function recordContact(contact, milestone, draftKey) {
  const id = crypto.randomUUID();
  /** @type {store.Op[]} */
  const ops = [mutation("contact.create", { id, ...contact }, `contact:${id}`, contact.case_id)];
  if (milestone) {
    const mid = crypto.randomUUID();
    const args = { id: mid, case_id: contact.case_id, milestone: milestone.milestone, reached_on: contact.occurred_at.slice(0, 10), note: milestone.note };
    ops.push(mutation("milestone.record", args, `milestone:${mid}`, contact.case_id));
  }
  if (draftKey) ops.push({ store: "drafts", key: draftKey, remove: true });
  // A milestone changes the stage the caseload shows, worked out from the case's history: have it
  // open (it usually is: the form is reached from the case page).
  await Promise.all([commit(ops), milestone ? history.open(contact.case_id).catch(() => undefined) : undefined]);
  return id;
}

/**
 * A new case (intake). The server assigns it to the worker who created it.
 * @param {any} args case.create args without id
 * @param {string} [draftKey]
 */
export async function createCase(args, draftKey) {
  const id = crypto.randomUUID();
  /** @type {store.Op[]} */
  const ops = [mutation("case.create", { id, ...args }, `case:${id}`, id)];
  if (draftKey) ops.push({ store: "drafts", key: draftKey, remove: true });
  await commit(ops);
  return id;
}

/**
 * Change case fields (the next action and its date), made on the version the phone last saw.
 * @param {string} caseId
 * @param {Record<string, unknown>} changes
 * @param {string} [draftKey]
 */
export async function updateCase(caseId, changes, draftKey) {
  // The version and the values this phone last saw: the server merges untouched fields, and a
  // field someone else changed since becomes a conflict unless it still holds what we saw.
  const seen = state.records.get(`case:${caseId}`);
  const base = Object.fromEntries(Object.keys(changes).map((k) => [k, seen ? seen[k] ?? null : null]));
  const args = seen ? { id: caseId, base_version: seen.version, changes, base } : { id: caseId, base_version: 1, changes };
  /** @type {store.Op[]} */
  const ops = [mutation("case.update", args, `case:${caseId}`, caseId)];
  if (draftKey) ops.push({ store: "drafts", key: draftKey, remove: true });
  await commit(ops);
}

/**
 * 「確認を記録」 on an alert: a note and the next planned date, sent through the outbox like any
 * record, so it works without signal.
 * @param {{id: string, case_id: string}} alert
 * @param {string} note
 * @param {string} nextDate YYYY-MM-DD
 * @param {string} [draftKey]
 */
export async function acknowledgeAlert(alert, note, nextDate, draftKey) {
  /** @type {store.Op[]} */
  const ops = [mutation("alert.acknowledge", { id: alert.id, note, next_date: nextDate }, `alert:${alert.id}`, alert.case_id)];
  if (draftKey) ops.push({ store: "drafts", key: draftKey, remove: true });
  await commit(ops);
}

/** The worker has read a conflict or rejection: it leaves the list (the server keeps its copy). @param {string} key */
export async function dismiss(key) {
  await commit([{ store: "attention", key, remove: true }]);
}

/** Re-send the phone's value of a conflicted field on top of the server's current version. @param {Attention} item */
export async function resendConflict(item) {
  const m = item.value.mutation;
  const changes = {};
  for (const c of item.value.conflicts || []) {
    if (c.field) changes[c.field] = "client_value" in c ? unwrap(c.client_value) : m.args.changes[c.field];
  }
  if (!Object.keys(changes).length) Object.assign(changes, m.args.changes);
  const seen = state.records.get(`case:${m.args.id}`);
  const base = Object.fromEntries(Object.keys(changes).map((k) => [k, seen ? seen[k] ?? null : null]));
  const args = seen ? { id: m.args.id, base_version: seen.version, changes, base } : { ...m.args, changes };
  await commit([{ store: "attention", key: item.key, remove: true }, mutation("case.update", args, m.ref, m.case_id)]);
}

/** Conflict values may come wrapped as {"value": …}. @param {any} v */
export function unwrap(v) {
  return v && typeof v === "object" && "value" in v ? v.value : v;
}

/**
 * "Record it again": put a rejected record back into its form as a draft, and say which screen
 * shows that form. The attention entry goes; the server keeps its own copy for review.
 * @param {Attention} item
 * @returns {Promise<string | null>} the hash of the form, or null when there is none to redo
 */
export async function redo(item) {
  const m = item.value.mutation;
  const a = m.args;
  /** @type {[string, Record<string, unknown>, string] | null} */
  let target = null;
  if (m.name === "contact.create") {
    target = [`contact:${a.case_id}`, {
      occurred_at: isoToLocal(a.occurred_at), method: a.method, counterpart: a.counterpart, outcome: a.outcome,
      reception: a.reception || "", notes: a.notes || "", risk_flags: a.risk_flags || [],
      visitor_ids: (a.visitor_ids || []).filter((/** @type {string} */ v) => v !== state.user?.id),
      duration_min: a.duration_min ?? "", next_action: a.next_action || "", next_action_due: a.next_action_due || "",
      sharing_basis: a.sharing_basis || "INTERNAL_ONLY",
    }, `#/case/${a.case_id}/contact`];
  } else if (m.name === "case.create") {
    target = ["case:new", {
      ...(a.person || {}), ...(a.household || {}), birth_date: a.person?.birth_date || "",
      categories: a.categories || [], referral_source: a.referral_source || "", identified_on: a.identified_on || "",
      next_action: a.next_action || "", next_action_due: a.next_action_due || "",
    }, "#/new"];
  } else if (m.name === "case.update") {
    target = [`next:${a.id}`, { next_action: a.changes?.next_action ?? "", next_action_due: a.changes?.next_action_due ?? "" }, `#/case/${a.id}/next`];
  }
  /** @type {store.Op[]} */
  const ops = [{ store: "attention", key: item.key, remove: true }];
  if (target) ops.push({ store: "drafts", key: target[0], value: { values: target[1], at: new Date().toISOString() } });
  await commit(ops);
  return target ? target[2] : null;
}
