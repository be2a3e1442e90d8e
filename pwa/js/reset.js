// @ts-check
/**
 * A reset chain (sync/PROTOCOL.md §5): the worker's whole scope sent afresh, page after page (the
 * first sync, a new server epoch). Nothing is stored until the chain is complete; then it replaces
 * everything pulled before, in one transaction with the cursor.
 *
 * A first sync is ≈ 14,000 records (9 MB). Sealing them all after the last page kept the phone busy
 * for a second or more at the end, so each page's records are sealed while the next page is on its
 * way; a record or a case history that a later page changes is sealed again, at the end. What is
 * written is always the chain's final state, each value sealed once with its own IV, before the
 * transaction opens (js/store.js `seal`).
 */

import * as store from "./store.js";
import * as history from "./history.js";

export class Chain {
  constructor() {
    /** records that are not case history: key → record @type {Map<string, any>} */
    this.records = new Map();
    /** case id → its history (key → record) @type {Map<string, Map<string, any>>} */
    this.histories = new Map();
    /** case id → how often its history changed (a sealed copy is good for one version) @type {Map<string, number>} */
    this.versions = new Map();
    /** storage key → a copy sealed early, and what it was made from @type {Map<string, {of: unknown, sealed: Promise<store.SealedValue | null>}>} */
    this.early = new Map();
  }

  /** Take one page of changes, in order, and start sealing what it completed. @param {any[]} changes */
  add(changes) {
    /** @type {Set<string>} */
    const records = new Set();
    /** @type {Set<string>} */
    const cases = new Set();
    let last = null;
    for (const c of changes) {
      const key = `${c.entity}:${c.id}`;
      if (history.ENTITIES.has(c.entity)) {
        const caseId = String(c.op === "remove" ? c.case_id : c.data?.case_id);
        let map = this.histories.get(caseId);
        if (!map) this.histories.set(caseId, (map = new Map()));
        if (c.op === "remove") map.delete(key);
        else map.set(key, c.data);
        this.versions.set(caseId, (this.versions.get(caseId) || 0) + 1);
        cases.add(caseId);
        last = caseId;
      } else if (c.op === "remove") {
        this.records.delete(key);
      } else {
        this.records.set(key, c.data);
        records.add(key);
      }
    }
    for (const key of records) this.sealEarly(key, this.records.get(key), this.records.get(key));
    // A reset chain sends each case whole, once (sync/PROTOCOL.md §6, "reset chain"), so only the
    // page's last case is likely to go on in the next page: the others are sealed now.
    for (const caseId of cases) {
      const map = this.histories.get(caseId);
      if (caseId !== last && map && map.size) this.sealEarly(history.keyOf(caseId), Object.fromEntries(map), this.versions.get(caseId));
    }
  }

  /**
   * Seal `value` now, as the copy of `key` made from `of` (the record itself, or a history's version).
   * @param {string} key @param {unknown} value @param {unknown} of
   */
  sealEarly(key, value, of) {
    // A failure (the app locked meanwhile) only means sealing at the end, where it is reported.
    this.early.set(key, { of, sealed: store.seal(value).catch(() => null) });
  }

  /**
   * The writes that make the phone hold exactly this chain: every stored key it did not send goes.
   * @param {string[]} stored the keys of the records store now
   * @returns {Promise<store.Op[]>}
   */
  async ops(stored) {
    /** @type {{key: string, of: unknown, make: () => unknown}[]} */
    const wanted = [];
    for (const [key, value] of this.records) wanted.push({ key, of: value, make: () => value });
    for (const [caseId, map] of this.histories) {
      if (map.size) wanted.push({ key: history.keyOf(caseId), of: this.versions.get(caseId), make: () => Object.fromEntries(map) });
    }
    const early = await Promise.all(wanted.map((w) => {
      const e = this.early.get(w.key);
      return e && e.of === w.of ? e.sealed : null;
    }));
    const kept = new Set(wanted.map((w) => w.key));
    /** @type {store.Op[]} */
    const ops = stored.filter((key) => !kept.has(key)).map((key) => ({ store: "records", key, remove: true }));
    wanted.forEach((w, i) => {
      const sealed = early[i];
      ops.push(sealed ? { store: "records", key: w.key, sealed } : { store: "records", key: w.key, value: w.make() });
    });
    return ops;
  }

  /** Whether the chain sent this case. @param {string} caseId */
  hasCase(caseId) {
    return this.records.has(`case:${caseId}`);
  }
}
