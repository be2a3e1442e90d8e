// @ts-check
/**
 * A case's history on the phone: its contacts, milestones and consents, kept as ONE sealed record
 * per case (`history:<case id>` in the `records` store) rather than one record each.
 *
 * Why: a worker's scope is ≈ 250 cases but ≈ 14,000 contacts and milestones. The caseload needs
 * only the cases (the server sends each case's stage and last contact with it), so opening the app
 * reads and decrypts the ≈ 300 case, alert and reference records, and a case's history is opened
 * when that case is shown. One record per case also makes the first sync seal ≈ 250 values
 * instead of ≈ 14,000.
 *
 * Security is unchanged: a bundle is a sealed value like any other (AES-GCM, a fresh IV every time
 * it is written, sealed before its transaction opens), and its key is the case's random id.
 *
 * Who writes bundles: js/sync.js (the pull, and the provisional copies of accepted mutations),
 * which runs one at a time per device (Web Locks), and `fold` below, once, at an unlock after an
 * update. Both read a bundle afresh from IndexedDB before changing it — never from the cache below,
 * which another tab's sync may have outdated — and write it in one transaction with the rest of
 * the change (for a pull, the page and the cursor). What the worker records goes to the outbox.
 */

import * as store from "./store.js";

/** The entities kept in a case's history bundle; every other record stays a record of its own. */
export const ENTITIES = new Set(["contact", "milestone", "consent"]);
export const PREFIX = "history:";

/** @param {string} key `<entity>:<id>` */
export function isHistory(key) {
  return ENTITIES.has(key.slice(0, key.indexOf(":")));
}

/** The storage key of a case's bundle. @param {string} caseId */
export function keyOf(caseId) {
  return `${PREFIX}${caseId}`;
}

/** @param {string} key a storage key @returns {string | null} the case id of a bundle's key */
export function caseOf(key) {
  return key.startsWith(PREFIX) ? key.slice(PREFIX.length) : null;
}

/**
 * Bundles opened for the screens, by case id: each a Map `<entity>:<id>` → record. Dropped when
 * the records are read again (js/records.js `reload`, after every sync) and when the app locks.
 * @type {Map<string, Map<string, any>>}
 */
const opened = new Map();
/** Reads under way, so that two screens asking at once read once. @type {Map<string, Promise<Map<string, any>>>} */
const reading = new Map();
/** Counts `forget`s: a read that started before one must not fill the cache after it. */
let generation = 0;

/** A case's history if it is open (else undefined: see `open`). @param {string} caseId */
export function cached(caseId) {
  return opened.get(caseId);
}

/** Open a case's history (one read, one decryption), or reuse it. @param {string} caseId */
export async function open(caseId) {
  const have = opened.get(caseId) || reading.get(caseId);
  if (have) return have;
  const started = generation;
  const pending = read(caseId).finally(() => {
    if (started === generation) reading.delete(caseId);
  });
  reading.set(caseId, pending);
  const map = await pending;
  if (started === generation) opened.set(caseId, map);
  return map;
}

/** Forget every opened history (the app locked, or the records are read again). */
export function forget() {
  generation++;
  opened.clear();
  reading.clear();
}

/** @param {string} caseId @returns {Promise<Map<string, any>>} */
async function read(caseId) {
  const bundle = await store.get("records", keyOf(caseId));
  return new Map(Object.entries(bundle || {}));
}

/**
 * @typedef {{caseId: string, key: string, value?: any, remove?: true}} Edit
 *   put `value` under `key` in the case's history, or remove it
 */

/**
 * The writes that apply `edits`, in order, to the bundles as stored now: each touched bundle is
 * read, changed and written whole (or removed once empty). The caller writes these ops in its own
 * transaction (with the rest of the change and the cursor).
 * @param {Edit[]} edits
 * @returns {Promise<store.Op[]>}
 */
export async function apply(edits) {
  const caseIds = [...new Set(edits.map((e) => e.caseId))];
  const current = await Promise.all(caseIds.map((id) => read(id)));
  const bundles = new Map(caseIds.map((id, i) => [id, current[i]]));
  for (const e of edits) {
    const map = /** @type {Map<string, any>} */ (bundles.get(e.caseId));
    if (e.remove) map.delete(e.key);
    else map.set(e.key, e.value);
  }
  return writes(bundles);
}

/**
 * The writes that store `bundles` as they are, replacing what was stored (an empty one is removed).
 * @param {Map<string, Map<string, any>>} bundles
 * @returns {store.Op[]}
 */
export function writes(bundles) {
  /** @type {store.Op[]} */
  const ops = [];
  for (const [caseId, map] of bundles) {
    if (map.size) ops.push({ store: "records", key: keyOf(caseId), value: Object.fromEntries(map) });
    else ops.push({ store: "records", key: keyOf(caseId), remove: true });
  }
  return ops;
}

/**
 * Group records by case into bundles (a pull's reset, or records kept one by one by an earlier
 * version of the app).
 * @param {Iterable<[string, any]>} entries `<entity>:<id>` → record, each with its `case_id`
 * @returns {Map<string, Map<string, any>>}
 */
export function group(entries) {
  /** @type {Map<string, Map<string, any>>} */
  const bundles = new Map();
  for (const [key, value] of entries) {
    const caseId = String(value?.case_id);
    let map = bundles.get(caseId);
    if (!map) bundles.set(caseId, (map = new Map()));
    map.set(key, value);
  }
  return bundles;
}

/**
 * Records of a case's history stored one by one — as versions of the app before the bundles kept
 * them — move into their bundles, in one transaction.
 * @param {{key: string, value: any}[]} loose
 */
export async function fold(loose) {
  /** @type {Edit[]} */
  const edits = loose.map((r) => ({ caseId: String(r.value?.case_id), key: r.key, value: r.value }));
  /** @type {store.Op[]} */
  const ops = await apply(edits);
  for (const r of loose) ops.push({ store: "records", key: r.key, remove: true });
  await store.write(ops);
}
