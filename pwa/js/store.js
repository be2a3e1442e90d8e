// @ts-check
/**
 * The phone's storage: the one module through which every IndexedDB record passes.
 *
 * Threat and design (see also issue "data on the phone"): a lost phone must not expose personal
 * data, and a dying battery must not lose a visit. So
 *   - every value that can hold personal data goes through `codec.seal` before it is written and
 *     `codec.open` after it is read: AES-GCM under the data key (js/keys.js installs it with
 *     `setCodec`; before that, sealing and opening refuse);
 *   - sealing happens *before* a transaction opens and opening *after* it completes: an IndexedDB
 *     transaction auto-commits as soon as it has no pending request, so it must never wait on
 *     crypto or network (the `idb` README's rule);
 *   - keys are random ids (UUIDs made here or on the server) or fixed non-personal names, there are
 *     no indexes, and the object-store names say nothing about anyone;
 *   - a change and the mutation that carries it to the server are written in one transaction, so
 *     after 「保存しました」 both are on disk or neither is.
 *
 * The codec is installed by js/keys.js: AES-GCM under the data key, which exists only while the
 * app is unlocked (sealing or opening while locked fails).
 *
 * Stores:
 *   device    plain bookkeeping, never personal: device id, next mutation id, sync cursor, times,
 *             the wrapped data key (`keyring`), the lock policy, the owner's id and hint
 *   meta      sealed: the signed-in user
 *   records   sealed: server state by "<entity>:<id>" (case, contact, milestone, user, …)
 *   outbox    {mid, body: sealed mutation}, keyed by a random id; mids count 1, 2, 3… per device
 *   sent      outbox entries the server has answered for, kept {mid, body, at} for 30 days: after a
 *             server restore from backup they are sent again (the server's last_mid says which)
 *   attention sealed: conflicts and rejections the server answered, until the worker has seen them
 *   drafts    sealed: half-filled forms, so a reload or an app update never loses typing
 */

const DB_NAME = "yorisoi";
const DB_VERSION = 1;
export const STORES = /** @type {const} */ (["device", "meta", "records", "outbox", "sent", "attention", "drafts"]);
const SEALED = new Set(["meta", "records", "attention", "drafts"]);

/** @typedef {{seal(value: unknown): Promise<unknown>, open(stored: unknown): Promise<any>}} Codec */

/** Until js/keys.js installs AES-GCM, nothing personal can be written or read at all. */
const refusing = {
  seal: async () => {
    throw new Error("no codec");
  },
  open: async () => {
    throw new Error("no codec");
  },
};

/** @type {Codec} */
let codec = refusing;

/** Install the codec every sealed value passes through (js/keys.js: AES-GCM under the data key). */
export function setCodec(/** @type {Codec} */ c) {
  codec = c;
}

/** A value sealed ahead of its write (`seal`): only this module makes them. */
class Sealed {
  /** @param {unknown} stored */
  constructor(stored) {
    this.stored = stored;
  }
}
/** @typedef {Sealed} SealedValue */

/**
 * Seal a value now, to be written later (`{store, key, sealed}`): a first sync seals each page
 * while the next one is on its way. Each call seals afresh (a new IV), as `write` does.
 * @param {unknown} value
 * @returns {Promise<Sealed>}
 */
export async function seal(value) {
  return new Sealed(await codec.seal(value));
}

/** @type {Promise<IDBDatabase> | null} */
let opening = null;

/** @returns {Promise<IDBDatabase>} */
export function openDb() {
  if (opening) return opening;
  opening = new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      for (const name of STORES) {
        if (!db.objectStoreNames.contains(name)) db.createObjectStore(name);
      }
    };
    req.onsuccess = () => {
      const db = req.result;
      // Another tab deleting or upgrading the database: let it, and reopen next time.
      db.onversionchange = () => {
        db.close();
        opening = null;
      };
      // Closed under us (Clear-Site-Data on a revoked device, the browser clearing storage).
      db.onclose = () => {
        opening = null;
      };
      resolve(db);
    };
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error("database blocked"));
  });
  opening.catch(() => {
    opening = null;
  });
  return opening;
}

/**
 * @param {IDBTransaction} tx
 * @returns {Promise<void>}
 */
function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
  });
}

/**
 * @param {IDBRequest} req
 * @returns {Promise<any>}
 */
function result(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

// ---- plain bookkeeping (never personal) ----

/** @param {string} key */
export async function getPlain(key) {
  const db = await openDb();
  const tx = db.transaction("device", "readonly");
  const value = await result(tx.objectStore("device").get(key));
  return value;
}

/** @param {Record<string, unknown>} values */
export async function setPlain(values) {
  const db = await openDb();
  const tx = db.transaction("device", "readwrite");
  const os = tx.objectStore("device");
  for (const [k, v] of Object.entries(values)) os.put(v, k);
  await done(tx);
}

/** The installation's id (the sync client_id), made once and kept until the app is wiped. */
export async function deviceId() {
  const db = await openDb();
  const tx = db.transaction("device", "readwrite");
  const os = tx.objectStore("device");
  /** @type {string} */
  let id = await result(os.get("device_id"));
  if (!id) {
    id = crypto.randomUUID();
    os.put(id, "device_id");
  }
  await done(tx);
  return id;
}

// ---- sealed records ----

/**
 * Every entry of a store, opened; without the keys that start with `except` when given (read
 * as the two key ranges around it, so those values are neither read nor opened).
 * @param {"meta" | "records" | "attention" | "drafts"} store
 * @param {string} [except]
 * @returns {Promise<{key: string, value: any}[]>}
 */
export async function getAll(store, except) {
  const db = await openDb();
  const tx = db.transaction(store, "readonly");
  const os = tx.objectStore(store);
  const ranges = except
    ? [IDBKeyRange.upperBound(except, true), IDBKeyRange.lowerBound(`${except}\uffff`, true)]
    : [undefined];
  const read = await Promise.all(ranges.map((r) => Promise.all([result(os.getAllKeys(r)), result(os.getAll(r))])));
  await done(tx);
  const keys = read.flatMap(([k]) => k);
  const values = read.flatMap(([, v]) => v);
  // Opened side by side: Web Crypto works off the main thread, one await after another would
  // leave it idle between values.
  const opened = await Promise.all(values.map((v) => codec.open(v)));
  return keys.map((k, i) => ({ key: String(k), value: opened[i] }));
}

/**
 * Every key of a store (nothing is opened: keys are ids, never personal).
 * @param {"records" | "attention" | "drafts"} store
 * @returns {Promise<string[]>}
 */
export async function keys(store) {
  const db = await openDb();
  const tx = db.transaction(store, "readonly");
  const found = await result(tx.objectStore(store).getAllKeys());
  await done(tx);
  return found.map(String);
}

/**
 * @param {"meta" | "records" | "attention" | "drafts"} store
 * @param {string} key
 */
export async function get(store, key) {
  const db = await openDb();
  const tx = db.transaction(store, "readonly");
  const stored = await result(tx.objectStore(store).get(key));
  await done(tx);
  return stored === undefined ? undefined : codec.open(stored);
}

/**
 * The outbox in mutation order: [{key, mid, mutation}].
 * @returns {Promise<{key: string, mid: number, mutation: any}[]>}
 */
export async function outbox() {
  const db = await openDb();
  const tx = db.transaction("outbox", "readonly");
  const os = tx.objectStore("outbox");
  const [keys, values] = await Promise.all([result(os.getAllKeys()), result(os.getAll())]);
  await done(tx);
  const opened = await Promise.all(values.map((/** @type {any} */ v) => codec.open(v.body)));
  const out = keys.map((/** @type {IDBValidKey} */ k, /** @type {number} */ i) => ({ key: String(k), mid: values[i].mid, mutation: opened[i] }));
  out.sort((a, b) => a.mid - b.mid);
  return out;
}

/** How many mutations wait to be sent (readable without opening anything). */
export async function outboxCount() {
  const db = await openDb();
  const tx = db.transaction("outbox", "readonly");
  const n = await result(tx.objectStore("outbox").count());
  return Number(n);
}

/**
 * @typedef {{store: "meta" | "records" | "attention" | "drafts", key: string, value: unknown}} Put
 * @typedef {{store: "meta" | "records" | "attention" | "drafts", key: string, sealed: Sealed}} PutSealed  sealed by `seal`
 * @typedef {{store: "meta" | "records" | "attention" | "drafts" | "outbox", key: string, remove: true}} Remove
 * @typedef {{store: "outbox", append: unknown, key?: string}} Append  `key`: the entry's id (random when left out)
 * @typedef {{store: "device", key: string, plain: unknown}} PutPlain
 * @typedef {{store: "outbox", key: string, settle: true}} Settle  move an answered entry to `sent`
 * @typedef {Put | PutSealed | Remove | Append | PutPlain | Settle} Op
 */

/**
 * Apply several changes in one transaction: all of them are on disk when this resolves, or none.
 * Appended mutations get the next mids, in order; the mids are returned.
 * @param {Op[]} ops
 * @returns {Promise<number[]>}
 */
export async function write(ops) {
  // Seal first: nothing may be awaited once the transaction is open. Side by side, as in getAll.
  const sealed = await Promise.all(ops.map(async (op) => {
    if ("value" in op) {
      if (!SEALED.has(op.store)) throw new Error(`not a sealed store: ${op.store}`);
      return { ...op, value: await codec.seal(op.value) };
    }
    if ("append" in op) return { ...op, append: await codec.seal(op.append) };
    if ("sealed" in op) {
      if (!SEALED.has(op.store) || !(op.sealed instanceof Sealed)) throw new Error(`not sealed here: ${op.store}`);
      return { store: op.store, key: op.key, value: op.sealed.stored };
    }
    return op;
  }));
  const names = new Set(sealed.map((op) => op.store));
  if (sealed.some((op) => "append" in op)) names.add("device");
  if (sealed.some((op) => "settle" in op)) names.add("sent");
  const db = await openDb();
  const tx = db.transaction([...names], "readwrite");
  /** @type {number[]} */
  const mids = [];
  const appends = sealed.filter((op) => "append" in op);
  if (appends.length) {
    const dev = tx.objectStore("device");
    const req = dev.get("next_mid");
    req.onsuccess = () => {
      let next = Number(req.result || 1);
      for (const op of appends) {
        const mid = next++;
        mids.push(mid);
        const append = /** @type {Append} */ (op);
        tx.objectStore("outbox").put({ mid, body: append.append }, append.key || crypto.randomUUID());
      }
      dev.put(next, "next_mid");
    };
  }
  for (const op of sealed) {
    if ("append" in op) continue;
    const os = tx.objectStore(op.store);
    if ("settle" in op) {
      const key = op.key;
      const req = os.get(key);
      req.onsuccess = () => {
        if (req.result) tx.objectStore("sent").put({ ...req.result, at: Date.now() }, key);
        os.delete(key);
      };
      continue;
    }
    if ("remove" in op) os.delete(op.key);
    else if ("plain" in op) os.put(op.plain, op.key);
    else os.put(/** @type {Put} */ (op).value, op.key);
  }
  await done(tx);
  return mids;
}

/**
 * Empty the given stores in one transaction (sign-out keeps the outbox; a wipe drops everything).
 * @param {string[]} stores
 */
export async function clear(stores) {
  const db = await openDb();
  const tx = db.transaction(stores, "readwrite");
  for (const s of stores) tx.objectStore(s).clear();
  await done(tx);
}

/** Delete the whole database: the remote wipe (a revoked device). */
export async function destroy() {
  const db = await openDb();
  db.close();
  opening = null;
  await new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(DB_NAME);
    req.onsuccess = () => resolve(undefined);
    req.onerror = () => reject(req.error);
    req.onblocked = () => resolve(undefined);
  });
}

/**
 * The server has applied nothing after `lastMid` (a restore from backup, or a gap): put answered
 * entries numbered after it back into the outbox, then number the outbox from `lastMid + 1` on, in
 * its order. Mids above `lastMid` were never applied by this server, so renumbering them cannot
 * double anything. Raw values only: nothing is unsealed.
 * @param {number} lastMid
 * @returns {Promise<number>} how many answered entries went back into the outbox
 */
export async function resendAfter(lastMid) {
  const db = await openDb();
  const tx = db.transaction(["outbox", "sent", "device"], "readwrite");
  const outboxStore = tx.objectStore("outbox");
  const sentStore = tx.objectStore("sent");
  let moved = 0;
  const sentKeys = sentStore.getAllKeys();
  const sentValues = sentStore.getAll();
  sentValues.onsuccess = () => {
    const keys = /** @type {IDBValidKey[]} */ (sentKeys.result);
    sentValues.result.forEach((value, i) => {
      if (value.mid > lastMid) {
        const { at, ...entry } = value;
        outboxStore.put(entry, keys[i]);
        sentStore.delete(keys[i]);
        moved++;
      }
    });
    const outKeys = outboxStore.getAllKeys();
    const outValues = outboxStore.getAll();
    outValues.onsuccess = () => {
      const entries = outValues.result.map((value, i) => ({ key: outKeys.result[i], value }));
      entries.sort((a, b) => a.value.mid - b.value.mid);
      let next = lastMid + 1;
      for (const e of entries) outboxStore.put({ ...e.value, mid: next++ }, e.key);
      tx.objectStore("device").put(next, "next_mid");
    };
  };
  await done(tx);
  return moved;
}

/** The highest mid the server has answered for (0 when none). */
export async function highestSentMid() {
  const db = await openDb();
  const tx = db.transaction("sent", "readonly");
  const values = await result(tx.objectStore("sent").getAll());
  return values.reduce((m, v) => Math.max(m, v.mid), 0);
}

/** Forget answered entries older than `days` (they only serve a restore from a recent backup). */
export async function pruneSent(days = 30) {
  const cutoff = Date.now() - days * 86400000;
  const db = await openDb();
  const tx = db.transaction("sent", "readwrite");
  const os = tx.objectStore("sent");
  const keys = os.getAllKeys();
  const values = os.getAll();
  values.onsuccess = () => {
    values.result.forEach((v, i) => {
      if (!v.at || v.at < cutoff) os.delete(keys.result[i]);
    });
  };
  await done(tx);
}
