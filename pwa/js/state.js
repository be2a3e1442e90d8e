// @ts-check
/**
 * What the app has read into memory while it is open (js/records.js fills it, js/recording.js
 * changes it after each save), and who is told when it changes. Emptied when the app locks.
 */
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

