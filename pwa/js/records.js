// @ts-check
/**
 * What the worker sees and records, built from two things kept on the phone:
 *   - `records`: the server's state of the worker's scope as last pulled (and provisional copies of
 *     what the server has accepted but not yet sent back), and
 *   - `outbox`: the worker's own mutations not yet accepted, replayed on top, so a contact recorded
 *     offline shows at once, marked 「未送信」.
 * Conflicts and rejections the server answered are kept in `attention` and shown on their record.
 *
 * In memory: the cases, alerts, conflicts and reference (`state.records`), the outbox and the
 * attention list (js/state.js), read at unlock. A case's contacts and milestones are in its
 * history bundle (js/history.js), opened when the case is shown. Recording (js/recording.js)
 * changes the memory copy once the write is on disk, without reading anything back.
 */

import * as store from "./store.js";
import * as history from "./history.js";
import { today, setOverlay } from "./i18n.js";
import { state, onChange, changed, forget, onForget } from "./state.js";

/**
 * @typedef {import("./state.js").Mutation} Mutation
 * @typedef {import("./state.js").Queued} Queued
 * @typedef {import("./state.js").Attention} Attention
 */

export { state, onChange, forget };
export { recordContact, createCase, updateCase, acknowledgeAlert, dismiss, resendConflict, unwrap, redo } from "./recording.js";

/**
 * Read everything but the case histories back from IndexedDB (at unlock, after a sync).
 * @param {Map<string, any>} [written] the records (no histories) exactly as the `records` store now
 *   holds them, just written by a reset chain (js/sync.js): taken as they are, not read back and
 *   decrypted; the rest is read as usual
 */
export async function reload(written) {
  const [meta, records, outbox, attention] = await Promise.all([
    store.get("meta", "session"),
    written ? [...written].map(([key, value]) => ({ key, value })) : store.getAll("records", history.PREFIX),
    store.outbox(),
    store.getAll("attention"),
  ]);
  // Contacts and milestones stored one by one (by an earlier version of the app) move into their
  // cases' histories, once.
  const loose = records.filter((r) => history.isHistory(r.key));
  if (loose.length) await history.fold(loose);
  state.user = meta ? meta.user : null;
  state.records = new Map(records.filter((r) => !history.isHistory(r.key)).map((r) => [r.key, r.value]));
  state.outbox = outbox;
  state.attention = /** @type {Attention[]} */ (attention);
  history.forget();
  // A case with a milestone not yet sent shows the stage it leads to, worked out from its history.
  await Promise.all([...pendingMilestones().keys()].map((id) => history.open(id)));
  changed();
}

// The app locked or was wiped (`forget`, js/state.js): the opened histories go with the rest.
onForget(history.forget);

/** Open a case's contacts and milestones (before its page is drawn). @param {string} caseId */
export async function openHistory(caseId) {
  await history.open(caseId);
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

/** The records (not the histories) with the outbox replayed on top. */
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

/** Milestones not yet sent, as records, by case id. */
function pendingMilestones() {
  /** @type {Map<string, any[]>} */
  const out = new Map();
  for (const q of state.outbox) {
    if (q.mutation.name !== "milestone.record") continue;
    const list = out.get(q.mutation.case_id) || [];
    list.push({ ...q.mutation.args, _pending: true, _mid: q.mid });
    out.set(q.mutation.case_id, list);
  }
  return out;
}

/**
 * What the caseload and a case page need to know about every case at once, worked out in one pass
 * over the outbox and the attention list (not once per case).
 */
function context() {
  /** @type {Map<string, number>} */
  const problems = new Map();
  for (const a of state.attention) problems.set(a.value.mutation.case_id, (problems.get(a.value.mutation.case_id) || 0) + 1);
  return {
    today: today(),
    unsent: new Set(state.outbox.map((q) => q.mutation.case_id)),
    milestones: pendingMilestones(),
    problems,
  };
}

/**
 * A case as the screens show it.
 * @param {any} c the case with the outbox applied
 * @param {ReturnType<typeof context>} ctx
 */
function shown(c, ctx) {
  const pending = ctx.milestones.get(c.id);
  let stage = c.stage ?? c.current_stage ?? null;
  if (pending) {
    const events = history.cached(c.id);
    // Its history is opened with the outbox (reload, recordContact); should it not be, the
    // server's stage followed by the unsent milestones is the best guess.
    stage = events
      ? stageOf([...[...events].filter(([k]) => k.startsWith("milestone:")).map(([, m]) => m), ...pending])
      : stageOf([...(stage ? [{ milestone: stage, reached_on: "" }] : []), ...pending]);
  }
  const due = c.next_action_due || null;
  return {
    ...c,
    stage,
    overdue: Boolean(due && due < ctx.today),
    pending: Boolean(c._pending || c._pendingUpdate || ctx.unsent.has(c.id)),
    problems: ctx.problems.get(c.id) || 0,
    name: personName(c.person),
  };
}

/** @type {Intl.Collator | null} */
let collator = null;

/** The caseload: open and watching cases, the most urgent next action first (overdue on top). */
export function caseload() {
  const v = view();
  const ctx = context();
  const cases = [];
  for (const [key, c] of v) {
    if (key.startsWith("case:") && c.status !== "closed") cases.push(shown(c, ctx));
  }
  collator ||= new Intl.Collator("ja");
  const byName = collator;
  cases.sort((a, b) => {
    const da = a.next_action_due || "9999-12-31";
    const db = b.next_action_due || "9999-12-31";
    // ISO dates sort as text; compared as code units (localeCompare's collation made the sort 3× slower).
    return (da < db ? -1 : da > db ? 1 : 0) || byName.compare(a.name, b.name);
  });
  return cases;
}

/** @param {string} caseId */
export function caseById(caseId) {
  const c = view().get(`case:${caseId}`);
  return c && c.status !== "closed" ? shown(c, context()) : null;
}

/**
 * Contacts and milestones of a case, newest first: its history (`openHistory` first) with the
 * unsent ones on top.
 * @param {string} caseId
 */
export function timeline(caseId) {
  /** @type {Map<string, any>} */
  const v = new Map(history.cached(caseId) || []);
  for (const q of state.outbox) {
    if (q.mutation.case_id === caseId && (q.mutation.name === "contact.create" || q.mutation.name === "milestone.record")) {
      applyMutation(v, q.mutation, { pending: true, mid: q.mid });
    }
  }
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

/** Problems whose case the phone does not show (a rejected new case, a case that left the scope). */
export function orphanProblems() {
  if (!state.attention.length) return [];
  const shown = new Set(caseload().map((c) => c.id));
  return state.attention.filter((a) => !shown.has(a.value.mutation.case_id));
}
