// @ts-check
/**
 * What the worker sees and records, built from two things kept on the phone:
 *   - `records`: the server's state of the worker's scope as last pulled (and provisional copies of
 *     what the server has accepted but not yet sent back), and
 *   - `outbox`: the worker's own mutations not yet accepted, replayed on top, so a contact recorded
 *     offline shows at once, marked 「未送信」.
 * Conflicts and rejections the server answered are kept in `attention` and shown on their record.
 */

import * as store from "./store.js";
import { today, isoToLocal, setOverlay } from "./i18n.js";

/**
 * @typedef {{name: string, args: any, client_time: string, ref: string, case_id: string}} Mutation
 * @typedef {{key: string, mid: number, mutation: Mutation}} Queued
 * @typedef {{key: string, value: {mutation: Mutation, mid: number, status: "conflict" | "rejected",
 *   error?: {code: string, message?: string, field?: string}, conflicts?: any[], at: string}}} Attention
 */

export const state = {
  /** @type {any} */ user: null,
  /** @type {Map<string, any>} */ records: new Map(),
  /** @type {Queued[]} */ outbox: [],
  /** @type {Attention[]} */ attention: [],
  /** @type {any} */ vocab: null,
};

/** @type {Set<() => void>} */
const listeners = new Set();

/** @param {() => void} fn */
export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function changed() {
  for (const fn of listeners) fn();
}

/** Read everything back from IndexedDB (the dataset is one worker's caseload: small). */
export async function reload() {
  const [meta, records, outbox, attention] = await Promise.all([
    store.get("meta", "session"),
    store.getAll("records"),
    store.outbox(),
    store.getAll("attention"),
  ]);
  state.user = meta ? meta.user : null;
  state.records = new Map(records.map((r) => [r.key, r.value]));
  state.outbox = outbox;
  state.attention = /** @type {Attention[]} */ (attention);
  changed();
}

/** The app locked or was wiped: nothing it showed stays in memory. */
export function forget() {
  state.user = null;
  state.records = new Map();
  state.outbox = [];
  state.attention = [];
  changed();
}

export async function loadVocab() {
  const res = await fetch("/app/vocab.json");
  state.vocab = await res.json();
}

// ---- reading ----

/** @param {string} prefix */
function entities(prefix) {
  const out = [];
  for (const [key, value] of state.records) if (key.startsWith(`${prefix}:`)) out.push(value);
  return out;
}

/**
 * Apply one mutation to a view of the records (used for pending mutations, and to keep a
 * provisional copy of an accepted one until the server sends it back).
 * @param {Map<string, any>} view
 * @param {Mutation} m
 * @param {{pending?: boolean, mid?: number}} [flags]
 */
export function applyMutation(view, m, flags = {}) {
  const a = m.args;
  const mark = flags.pending ? { _pending: true, _mid: flags.mid } : { _provisional: true };
  if (m.name === "case.create") {
    view.set(`case:${a.id}`, {
      id: a.id,
      version: 1,
      status: "open",
      person: a.person,
      household: a.household || null,
      categories: a.categories || [],
      referral_source: a.referral_source,
      identified_on: a.identified_on || m.client_time.slice(0, 10),
      next_action: a.next_action || "",
      next_action_due: a.next_action_due || null,
      stage: "IDENTIFIED",
      last_reached_at: null,
      ...mark,
    });
  } else if (m.name === "case.update") {
    const current = view.get(`case:${a.id}`);
    if (current) view.set(`case:${a.id}`, { ...current, ...a.changes, ...(flags.pending ? { _pendingUpdate: true } : {}) });
  } else if (m.name === "contact.create") {
    view.set(`contact:${a.id}`, { ...a, ...mark });
    const current = view.get(`case:${a.case_id}`);
    if (current) {
      const patch = { ...current };
      if (a.next_action || a.next_action_due) {
        patch.next_action = a.next_action || "";
        patch.next_action_due = a.next_action_due || null;
      }
      const reached = state.vocab?.outcomes?.[a.outcome];
      if (reached && reached !== "none" && (!patch.last_reached_at || patch.last_reached_at < a.occurred_at)) {
        patch.last_reached_at = a.occurred_at;
      }
      view.set(`case:${a.case_id}`, patch);
    }
  } else if (m.name === "milestone.record") {
    view.set(`milestone:${a.id}`, { ...a, ...mark });
  } else if (m.name === "alert.acknowledge") {
    const current = view.get(`alert:${a.id}`);
    if (current) {
      view.set(`alert:${a.id}`, {
        ...current, state: "acknowledged", ack_note: a.note, ack_next_date: a.next_date,
        acknowledged_at: m.client_time, acknowledged_by: state.user?.id ?? null, ...mark,
      });
    }
  }
}

/** The records with the outbox replayed on top. */
function view() {
  const v = new Map(state.records);
  for (const q of state.outbox) applyMutation(v, q.mutation, { pending: true, mid: q.mid });
  return v;
}

/** The current stage from milestone events: the highest rung since the last SETBACK. @param {any[]} events */
export function stageOf(events) {
  const ladder = state.vocab?.milestones || [];
  /** @type {string | null} */
  let stage = null;
  const sorted = [...events].sort((x, y) => (x.reached_on + (x.received_at || x._mid || "")).localeCompare(y.reached_on + (y.received_at || y._mid || "")));
  for (const e of sorted) {
    if (e.milestone === "SETBACK") stage = "SETBACK";
    else if (stage === null || stage === "SETBACK" || ladder.indexOf(e.milestone) > ladder.indexOf(stage)) stage = e.milestone;
  }
  return stage;
}

/** @param {any} person */
export function personName(person) {
  if (!person) return "";
  const full = [person.family_name, person.given_name].filter(Boolean).join(" ");
  return person.preferred_name ? `${full}（${person.preferred_name}）` : full;
}

/** @param {string} caseId */
export function problemsFor(caseId) {
  return state.attention.filter((a) => a.value.mutation.case_id === caseId);
}

/** The caseload: open and watching cases, the most urgent next action first (overdue on top). */
export function caseload() {
  const v = view();
  const milestones = [...v.entries()].filter(([k]) => k.startsWith("milestone:")).map(([, m]) => m);
  const cases = [];
  for (const [key, c] of v) {
    if (!key.startsWith("case:") || c.status === "closed") continue;
    const pendingMilestone = milestones.some((m) => m.case_id === c.id && m._pending);
    const stage = pendingMilestone ? stageOf(milestones.filter((m) => m.case_id === c.id)) : c.stage ?? c.current_stage ?? null;
    const due = c.next_action_due || null;
    cases.push({
      ...c,
      stage,
      overdue: Boolean(due && due < today()),
      pending: c._pending || c._pendingUpdate || [...v.values()].some((r) => r._pending && r.case_id === c.id),
      problems: problemsFor(c.id).length,
      name: personName(c.person),
    });
  }
  cases.sort((a, b) => {
    const da = a.next_action_due || "9999-12-31";
    const db = b.next_action_due || "9999-12-31";
    return da.localeCompare(db) || a.name.localeCompare(b.name, "ja");
  });
  return cases;
}

/** @param {string} caseId */
export function caseById(caseId) {
  return caseload().find((c) => c.id === caseId) || null;
}

/** Contacts and milestones of a case, newest first. @param {string} caseId */
export function timeline(caseId) {
  const v = view();
  const items = [];
  for (const [key, r] of v) {
    if (r.case_id !== caseId) continue;
    if (key.startsWith("contact:")) items.push({ kind: "contact", at: r.occurred_at, ...r });
    else if (key.startsWith("milestone:")) items.push({ kind: "milestone", at: `${r.reached_on}T23:59:59+09:00`, ...r });
  }
  items.sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  return items;
}

/** The city's milestone ladder from the pull's reference data; null before the first pull. */
function ladderSteps() {
  const steps = state.records.get("reference:reference")?.milestones;
  return Array.isArray(steps) ? steps : null;
}

/** The steps a worker may choose for a new milestone: the city's ladder without its hidden steps. */
export function milestoneChoices() {
  const steps = ladderSteps();
  return steps ? steps.filter((s) => !s.hidden).map((s) => String(s.id)) : state.vocab?.milestones || [];
}

/**
 * The city's label for `milestone.<ID>` and `milestone_short.<ID>`, hidden steps included (old
 * events still show with their label); undefined leaves the catalogue's label.
 * @param {string} key @param {string} lang
 */
function cityMilestoneLabel(key, lang) {
  if (!key.startsWith("milestone")) return undefined;
  const [prefix, id] = key.split(".", 2);
  if (prefix !== "milestone" && prefix !== "milestone_short") return undefined;
  const step = ladderSteps()?.find((s) => s.id === id);
  const labels = prefix === "milestone" ? step?.labels : step?.short;
  return labels?.[lang] || undefined;
}
setOverlay(cityMilestoneLabel);

/** Team members the worker can name as companions (from the pull's reference data), without the worker. */
export function teamMembers() {
  const reference = state.records.get("reference:reference");
  const members = reference?.members || [];
  return members.filter((/** @type {any} */ u) => u.id !== state.user?.id && u.team_id === state.user?.team_id);
}

/** The live alerts of the worker's scope as pulled (open and acknowledged), acknowledgements not yet sent applied. */
export function alerts() {
  /** @type {Map<string, any>} */
  const v = new Map();
  for (const [key, a] of state.records) if (key.startsWith("alert:")) v.set(key, a);
  for (const q of state.outbox) {
    if (q.mutation.name === "alert.acknowledge") applyMutation(v, q.mutation, { pending: true, mid: q.mid });
  }
  return [...v.values()];
}

/** Open conflicts the server lists for a case (settled by its coordinator). @param {string} caseId */
export function serverConflicts(caseId) {
  return entities("conflict").filter((c) => c.case_id === caseId);
}

// ---- recording ----

/**
 * @param {string} name
 * @param {any} args
 * @param {string} ref
 * @param {string} caseId
 * @returns {store.Append}
 */
function mutation(name, args, ref, caseId) {
  return { store: "outbox", append: { name, args, client_time: new Date().toISOString(), ref, case_id: caseId } };
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
  await store.write(ops);
  await reload();
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
  await store.write(ops);
  await reload();
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
  await store.write(ops);
  await reload();
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
  await store.write(ops);
  await reload();
}

/** The worker has read a conflict or rejection: it leaves the list (the server keeps its copy). @param {string} key */
export async function dismiss(key) {
  await store.write([{ store: "attention", key, remove: true }]);
  await reload();
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
  await store.write([{ store: "attention", key: item.key, remove: true }, mutation("case.update", args, m.ref, m.case_id)]);
  await reload();
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
  await store.write(ops);
  await reload();
  return target ? target[2] : null;
}

/** Problems whose case the phone does not show (a rejected new case, a case that left the scope). */
export function orphanProblems() {
  const shown = new Set(caseload().map((c) => c.id));
  return state.attention.filter((a) => !shown.has(a.value.mutation.case_id));
}
