// @ts-check
/**
 * What the app has read into memory while it is open (js/records.js fills it, js/recording.js
 * changes it after each save), and who is told when it changes. Emptied when the app locks.
 *
 * Also the sync's status line (js/sync.js runs the sync and keeps it up to date). Both live here,
 * not in js/records.js and js/sync.js, because a closed app needs them: the lock screen's header
 * shows the last sync and the unsent count, and locking, signing out and a wipe empty the memory.
 * A reopened app draws the lock screen with this module alone and loads records.js, sync.js and
 * their imports after it (js/main.js).
 */
import * as store from "./store.js";

/**
 * @typedef {{name: string, args: any, client_time: string, ref: string, case_id: string}} Mutation
 * @typedef {{key: string, mid: number, mutation: Mutation}} Queued
 * @typedef {{key: string, value: {mutation: Mutation, mid: number, status: "conflict" | "rejected",
 *   error?: {code: string, message?: string, field?: string}, conflicts?: any[], at: string}}} Attention
 */

export const state = {
  /** @type {any} */ user: null,
  /** cases, alerts, conflicts, the reference; replaced (never changed in place) when they change
   * @type {Map<string, any>} */ records: new Map(),
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

export function changed() {
  for (const fn of listeners) fn();
}

/** What else is dropped with the memory (js/records.js adds the opened case histories). @type {Set<() => void>} */
const alsoForget = new Set();

/** @param {() => void} fn */
export function onForget(fn) {
  alsoForget.add(fn);
}

/** The app locked or was wiped: nothing it showed stays in memory. */
export function forget() {
  state.user = null;
  state.records = new Map();
  state.outbox = [];
  state.attention = [];
  for (const fn of alsoForget) fn();
  changed();
}

// ---- the sync's status (js/sync.js) ----

/**
 * @typedef {{running: boolean, lastOk: string | null, error: null | {kind: string, code: string, status: number},
 *   pendingCount: number, retryAt: number | null}} SyncStatus
 * `retryAt`: when the retry after a busy answer is due (ms since the epoch), else null.
 */

/** @type {SyncStatus} */
export const syncStatus = { running: false, lastOk: null, error: null, pendingCount: 0, retryAt: null };

/** @type {Set<() => void>} */
const statusListeners = new Set();
/** @param {() => void} fn */
export function onStatus(fn) {
  statusListeners.add(fn);
}
export function announce() {
  for (const fn of statusListeners) fn();
}

/** Called when the session has ended (a revoked device is wiped by js/api.js, whatever asked). */
export const syncHooks = {
  /** @type {() => void} */ signedOut: () => {},
};

/** The last sync and the unsent count, as stored (shown while the app is closed too). */
export async function loadStatus() {
  syncStatus.lastOk = (await store.getPlain("last_sync_at")) || null;
  syncStatus.pendingCount = await store.outboxCount();
  announce();
}
