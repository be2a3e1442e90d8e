// @ts-check
/**
 * Sync: push the outbox, then pull the scope (protocol: sync/PROTOCOL.md).
 *
 * Honesty rules: the status says 「同期しました」 only after the server answered 200 for both the
 * push and the pull; anything else is reported as a failure, with its kind. Nothing leaves the
 * outbox until the server has answered for it. A mutation's `mid` never changes once assigned, so a
 * push that is retried after a lost answer is recognised by the server as a duplicate.
 *
 * Runs: when the app opens, when the network returns, on a timer while open, when the service worker
 * relays a Background Sync event (where the browser has it), and on 「今すぐ同期」. One run at a
 * time per app (and per device where the Web Locks API exists, so two tabs do not push together).
 *
 * A busy server (503 `server_busy`, server/security/admission.py) did nothing with the request and
 * says when to come back (`Retry-After`). The status says so — not 「サーバーエラー」 — the records
 * stay in the outbox, and one retry is scheduled for then, a little later at random (a morning's
 * phones turned away together must not all come back in the same second); until it fires, the
 * automatic triggers wait too. Bounded: at most BUSY_RETRIES in a row and never more than
 * BUSY_MAX_SECONDS ahead; after that the ordinary triggers (the timer, the network) take over.
 */

import * as store from "./store.js";
import * as keys from "./keys.js";
import * as history from "./history.js";
import { Chain } from "./reset.js";
import { api, ApiFailure } from "./api.js";
import { applyMutation, reload, state } from "./records.js";
import { syncStatus as status, syncHooks as hooks, announce } from "./state.js";

const SCHEMA_VERSION = 1;
const PUSH_BATCH = 100;
/** The most the server sends in one page (sync/envelope.py MAX_LIMIT): a first sync of ≈ 14,000
 * records is 15 pages rather than 29, and each page costs the phone a parse and a round of sealing. */
const PULL_LIMIT = 1000;
export const TIMER_MS = 60_000;
export const BUSY_RETRIES = 5;
const BUSY_MAX_SECONDS = 300;
const BUSY_DEFAULT_SECONDS = 5; // a 503 server_busy without Retry-After (a proxy dropped it)
/** How much later than asked a busy retry may come, at random: up to half the wait again. */
const BUSY_JITTER = 0.5;

// The status, its listeners and the session hook live in js/state.js: the lock screen shows the
// status before this module is loaded.
export { syncStatus as status, onStatus, syncHooks as hooks, loadStatus } from "./state.js";

/** Busy answers in a row, and the retry scheduled after the last one. */
const busy = { count: 0, /** @type {ReturnType<typeof setTimeout> | undefined} */ timer: undefined };

/** @type {Promise<boolean> | null} */
let current = null;

/** Run one sync now (or join the one running). Resolves true when it fully succeeded. */
export function syncNow() {
  if (current) return current;
  // Locked: nothing can be sealed or opened, so nothing is sent or stored until the PIN (or an
  // online sign-in) brings the key back.
  if (!keys.held()) return Promise.resolve(false);
  status.running = true;
  announce();
  const run = async () => {
    const locks = /** @type {any} */ (navigator).locks;
    if (locks && typeof locks.request === "function") return locks.request("yorisoi-sync", () => once());
    return once();
  };
  current = run()
    .then(() => {
      status.error = null;
      afterBusy(null);
      return true;
    })
    .catch(async (/** @type {unknown} */ err) => {
      const f = err instanceof ApiFailure ? err : new ApiFailure("network", 0, "client_error");
      if (f.status === 401 && f.code !== "device_revoked") hooks.signedOut();
      status.error = { kind: f.kind, code: f.code, status: f.status };
      afterBusy(f.status === 503 && f.code === "server_busy" ? f : null);
      return false;
    })
    .finally(async () => {
      current = null;
      status.running = false;
      // Not after a lock or a wipe: the count is the app's to reset, and a wiped phone stays empty.
      if (keys.held()) status.pendingCount = await store.outboxCount().catch(() => status.pendingCount);
      announce();
    });
  return current;
}

/**
 * A sync that nobody asked for (the timer, the network returning, a save, the service worker):
 * not while a retry after a busy answer is pending — the server asked to wait.
 */
export function autoSync() {
  if (status.retryAt !== null) return Promise.resolve(false);
  return syncNow();
}

/**
 * After each run: a busy answer schedules one retry after its Retry-After (plus jitter); any other
 * outcome ends the series. @param {ApiFailure | null} failure  the busy answer, or null
 */
function afterBusy(failure) {
  clearTimeout(busy.timer);
  status.retryAt = null;
  if (!failure) {
    busy.count = 0;
    return;
  }
  busy.count += 1;
  if (busy.count > BUSY_RETRIES) return; // the ordinary triggers from here on
  const seconds = Math.min(Math.max(failure.retryAfter ?? BUSY_DEFAULT_SECONDS, 1), BUSY_MAX_SECONDS);
  const wait = seconds * 1000 * (1 + Math.random() * BUSY_JITTER);
  status.retryAt = Date.now() + wait;
  busy.timer = setTimeout(() => {
    status.retryAt = null;
    if (navigator.onLine && state.user) void syncNow();
  }, wait);
}

/** The running sync, if any, to wait for (locking lets it finish rather than cut it off). */
export function running() {
  return current || Promise.resolve(true);
}

async function once() {
  if (!state.user) throw new ApiFailure("http", 401, "unauthenticated");
  await push();
  const serverLastMid = await pull();
  // A server restored from a backup no longer has what it acknowledged after the backup: its
  // last_mid is behind what we kept. Send those again (the same records, the same ids).
  if (serverLastMid !== null && serverLastMid < (await store.highestSentMid())) {
    await store.resendAfter(serverLastMid);
    await reload();
    await push();
    await pull();
  }
  await store.pruneSent();
  const now = new Date().toISOString();
  await store.setPlain({ last_sync_at: now });
  status.lastOk = now;
}

async function push() {
  /** @type {string | null} */
  let clientId = null;
  let stalled = 0;
  for (;;) {
    const queued = await store.outbox();
    if (!queued.length) return;
    clientId ??= await store.deviceId(); // not read when there is nothing to send (most syncs)
    const batch = queued.slice(0, PUSH_BATCH);
    const body = {
      client_id: clientId,
      schema_version: SCHEMA_VERSION,
      outbox_depth: queued.length,
      mutations: batch.map((q) => ({ mid: q.mid, name: q.mutation.name, args: q.mutation.args, client_time: q.mutation.client_time })),
    };
    const answer = await api("POST", "/api/sync/push", body, { timeoutMs: 60000 });
    const byMid = new Map((answer.results || []).map((/** @type {any} */ r) => [r.mid, r]));
    const lastMid = Number(answer.last_mid ?? 0);
    /** @type {store.Op[]} */
    const ops = [];
    /** @type {history.Edit[]} */
    const edits = [];
    const provisional = new Map(state.records);
    let settled = 0;
    for (const q of batch) {
      const r = byMid.get(q.mid);
      if (!r && q.mid > lastMid) continue; // not reached (a gap stopped the batch): sent again
      settled++;
      ops.push({ store: "outbox", key: q.key, settle: true });
      // A duplicate repeats the first outcome (`original`): an answer lost on the way back must not
      // turn a rejection or a conflict into a silent success.
      const first = r && r.status === "duplicate" && r.original ? r.original : r;
      const st = first ? first.status : "duplicate"; // at or below last_mid without a result: applied earlier
      if (st === "applied" || st === "duplicate") {
        // Keep what the server accepted visible until the pull brings the server's own copy.
        const before = new Map(provisional);
        applyMutation(provisional, q.mutation);
        for (const [k, v] of provisional) {
          if (before.get(k) === v) continue;
          if (history.isHistory(k)) edits.push({ caseId: String(v.case_id), key: k, value: v });
          else ops.push({ store: "records", key: k, value: v });
        }
      } else {
        ops.push({
          store: "attention",
          key: crypto.randomUUID(),
          value: { mutation: q.mutation, mid: q.mid, status: st, error: first.error, conflicts: first.conflicts, at: new Date().toISOString() },
        });
      }
    }
    if (edits.length) ops.push(...(await history.apply(edits)));
    if (ops.length) await store.write(ops);
    await reload();
    if (settled === 0) {
      // The server expects an earlier mid than we sent: it lost mutations (a restore) or never
      // had them. Send again from its last_mid + 1, once; a second stall is a failure.
      if (stalled++ > 0) throw new ApiFailure("http", 409, "push_stalled");
      await store.resendAfter(lastMid);
    }
  }
}

/** @typedef {{answer: any, early: {cursor: string, next: Promise<Page>} | null}} Page  a pull answer, and the next page if asked for early */

/** @returns {Promise<number | null>} the server's last_mid for this device, when it said */
async function pull() {
  // Three reads side by side: each is a round trip to IndexedDB before the first request goes out.
  const [stored, clientId, depth] = await Promise.all([store.getPlain("cursor"), store.deviceId(), store.outboxCount()]);
  let cursor = stored ?? "";
  /**
   * One page. The next one is asked for as soon as its cursor is read off the end of this page's
   * bytes (`nextCursor`), before they are parsed: parsing a page of 1,000 changes costs a slow
   * phone 50–150 ms, which the server's preparing of the next page now covers. The guess is
   * checked against the parsed answer; were they to differ, it is dropped and the page asked for
   * again with the answer's cursor.
   * @param {string} from
   * @returns {Promise<Page>}
   */
  const request = (from) => {
    const query = new URLSearchParams({ client_id: clientId, limit: String(PULL_LIMIT), outbox_depth: String(depth) });
    if (from) query.set("cursor", String(from));
    /** @type {Page["early"]} */
    let early = null;
    const onBytes = (/** @type {Uint8Array} */ bytes) => {
      const guess = nextCursor(bytes);
      if (guess !== null) early = { cursor: guess, next: request(guess) };
    };
    const page = api("GET", `/api/sync/pull?${query}`, undefined, { timeoutMs: 60000, onBytes })
      .then((answer) => ({ answer, early }));
    page.catch(() => undefined); // reported where it is awaited (a failure elsewhere may come first)
    return page;
  };
  /** @type {number | null} */
  let lastMid = null;
  /** @type {Chain | null} */
  let chain = null;
  let next = request(cursor);
  for (let page = 0; page < 10000; page++) {
    const { answer, early } = await next;
    if (answer.reset && page === 0) chain = new Chain();
    if (typeof answer.last_mid === "number") lastMid = answer.last_mid;
    // The next page is asked for before this one is stored (or sealed): the phone works on one
    // page while the server prepares the next.
    if (answer.has_more) next = early && early.cursor === answer.cursor ? early.next : request(answer.cursor);
    const changes = answer.changes || [];
    if (chain) chain.add(changes);
    else await applyChanges(changes, answer.cursor);
    cursor = answer.cursor;
    if (!answer.has_more) break;
  }
  if (chain) {
    await replaceAll(chain, cursor);
    // What was just written is in memory already: the records are taken from the chain rather than
    // read back and decrypted (≈ 300 values, the caseload's last wait after a first sync).
    await reload(chain.records);
  } else {
    await reload();
  }
  return lastMid;
}

/** How much of a page's end `nextCursor` reads (the envelope's fields after the changes). */
const TAIL_BYTES = 2048;
const tailDecoder = new TextDecoder();

/**
 * The next page's cursor, read off the end of a pull answer's bytes without parsing them: the
 * server writes the envelope's `"cursor":"…","has_more":true` after the changes. Null when the
 * page is the last one, or the end does not read like that (then the parsed answer says).
 * @param {Uint8Array} bytes
 * @returns {string | null}
 */
export function nextCursor(bytes) {
  const tail = tailDecoder.decode(bytes.subarray(Math.max(0, bytes.length - TAIL_BYTES)));
  let found = null;
  for (const m of tail.matchAll(/"cursor":"([^"\\]+)","has_more":true[,}]/g)) found = m[1];
  return found;
}

/**
 * One page of changes, with the cursor, in one transaction. Contacts, milestones and consents go
 * into their cases' histories (js/history.js), read before the transaction opens.
 * @param {any[]} changes @param {string} cursor
 */
async function applyChanges(changes, cursor) {
  /** @type {store.Op[]} */
  const ops = [];
  /** @type {history.Edit[]} */
  const edits = [];
  /** @type {Set<string>} */
  const removedCases = new Set();
  for (const c of changes) {
    const key = `${c.entity}:${c.id}`;
    if (history.ENTITIES.has(c.entity)) {
      const caseId = String(c.op === "remove" ? c.case_id : c.data?.case_id);
      edits.push(c.op === "remove" ? { caseId, key, remove: true } : { caseId, key, value: c.data });
    } else if (c.op === "remove") {
      ops.push({ store: "records", key, remove: true });
      if (c.entity === "case") removedCases.add(String(c.id));
      if (c.entity === "alert") ops.push({ store: "drafts", key: `ack:${c.id}`, remove: true }); // resolved
    } else {
      ops.push({ store: "records", key, value: c.data });
    }
  }
  // A case that leaves takes its whole history with it (purge), whatever this page said about it.
  ops.push(...(await history.apply(edits.filter((e) => !removedCases.has(e.caseId)))));
  ops.push(...purge(removedCases));
  ops.push({ store: "device", key: "cursor", plain: cursor });
  await store.write(ops);
}

/**
 * A case that left the worker's scope takes everything of it off the phone: its records (alerts,
 * conflicts: anything with its `case_id`), its history (contacts, milestones, consents), the drafts
 * of its forms (an alert's acknowledgement too), and the content of answered problems about it
 * (what happened stays visible, without the values).
 * The worker's own unsent mutations stay: they are the worker's, and the server decides on them.
 * @param {Set<string>} caseIds
 * @returns {store.Op[]}
 */
function purge(caseIds) {
  /** @type {store.Op[]} */
  const ops = [];
  if (!caseIds.size) return ops;
  for (const [key, value] of state.records) {
    if (!value || !caseIds.has(String(value.case_id))) continue;
    ops.push({ store: "records", key, remove: true });
    if (key.startsWith("alert:")) ops.push({ store: "drafts", key: `ack:${value.id}`, remove: true });
  }
  for (const id of caseIds) {
    ops.push({ store: "records", key: history.keyOf(id), remove: true });
    ops.push({ store: "drafts", key: `contact:${id}`, remove: true }, { store: "drafts", key: `next:${id}`, remove: true });
  }
  for (const item of state.attention) {
    const v = item.value;
    if (!caseIds.has(String(v.mutation.case_id))) continue;
    const bare = { name: v.mutation.name, case_id: v.mutation.case_id, ref: v.mutation.ref, args: {}, client_time: v.mutation.client_time };
    ops.push({ store: "attention", key: item.key, value: { mutation: bare, mid: v.mid, status: v.status, error: v.error, conflicts: [], at: v.at } });
  }
  return ops;
}

/**
 * A reset chain is complete: the scope as the server has it now replaces everything pulled before,
 * in one transaction (js/reset.js); what belonged to cases it no longer holds goes too.
 * @param {Chain} chain @param {string} cursor
 */
async function replaceAll(chain, cursor) {
  const stored = await store.keys("records");
  const ops = await chain.ops(stored);
  const gone = new Set(stored.filter((k) => k.startsWith("case:") && !chain.hasCase(k.slice(5))).map((k) => k.slice(5)));
  ops.push(...purge(gone).filter((op) => op.store !== "records"));
  ops.push({ store: "device", key: "cursor", plain: cursor });
  await store.write(ops);
}

/** @type {ReturnType<typeof setInterval> | null} */
let timer = null;

/** Start the automatic triggers: the network coming back, a timer while visible, the service worker. */
export function startAutoSync() {
  window.addEventListener("online", () => void autoSync());
  if (!timer) {
    timer = setInterval(() => {
      if (document.visibilityState === "visible" && navigator.onLine && state.user) void autoSync();
    }, TIMER_MS);
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && navigator.onLine && state.user) void autoSync();
  });
  navigator.serviceWorker?.addEventListener("message", (event) => {
    if (event.data && event.data.type === "SYNC_REQUESTED" && state.user) void autoSync();
  });
}

/** Ask for a Background Sync where the browser offers it (Chromium); elsewhere the triggers above do. */
export async function requestBackgroundSync() {
  try {
    const reg = await navigator.serviceWorker?.getRegistration("/app/");
    const sync = reg && /** @type {any} */ (reg).sync;
    if (sync && typeof sync.register === "function") await sync.register("yorisoi-outbox");
  } catch {
    // Not offered or not allowed: the timer and the `online` event still sync.
  }
}
