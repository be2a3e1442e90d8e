// @ts-check
/**
 * The data key: what makes the phone's records unreadable to whoever finds the phone.
 *
 * Threat (docs/threat-model.md, "Phone"): a lost or stolen phone, or a copy of its browser profile.
 * Design, Web Crypto only:
 *   - one random AES-GCM 256-bit data key per installation; every sealed value (records, queued
 *     mutations, drafts, the signed-in user) is encrypted with it under a fresh 96-bit IV;
 *   - the data key is stored only wrapped (AES-KW), twice: under a key derived from the worker's PIN
 *     (PBKDF2-SHA-256, 600,000 iterations, a random salt), and under a per-device key the server
 *     holds and hands only to a signed-in session of this device (`/api/device/key`);
 *   - unlocking *is* unwrapping: the key exists in memory only while the app is open, as a
 *     non-extractable CryptoKey. There is no "unlocked" flag anywhere: without the key in memory,
 *     `seal` and `open` fail, and the stored bytes mean nothing;
 *   - five wrong PINs in a row drop the PIN-wrapped copy (the counter is counted *before* each try,
 *     so closing the app mid-try does not reset it). The server-wrapped copy stays: an online
 *     sign-in unwraps it again, so a forgotten PIN never loses an unsent visit;
 *   - an extractable copy of the data key exists only between an online unlock and the new PIN
 *     being set (it must be wrapped again), never longer.
 * What this does not do: stop someone who copies the profile off the phone from trying every PIN
 * offline (a 6-digit PIN falls within minutes on one GPU). The real defences are the phone's own
 * lock, the small dataset, the offline limit and the remote wipe — see the threat model.
 */

import * as store from "./store.js";

export const PBKDF2_ITERATIONS = 600_000;
export const MAX_PIN_FAILURES = 5;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const KEYRING = "keyring";

/**
 * @typedef {{salt: Uint8Array, iterations: number, wrapped: ArrayBuffer}} PinWrap
 * @typedef {{v: 1, created_at: number, server: ArrayBuffer, pin: PinWrap | null, failures: number}} Keyring
 */

export class LockedError extends Error {
  constructor() {
    super("locked");
  }
}

/** @type {CryptoKey | null} the data key, non-extractable: only while the app is unlocked */
let dataKey = null;
/** @type {CryptoKey | null} an extractable copy, only until the new PIN wraps it */
let rewrap = null;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * One buffer that every value is encoded into before it is encrypted (grown as needed, never
 * shrunk while the app is open). `encrypt` copies its input when it is called, before it returns
 * (WebCrypto: "a copy of the bytes held by"), so the next value may reuse the buffer at once. A
 * first sync seals ≈ 570 values (9 MB): `encode` made a new array for each and copied the text
 * twice, ≈ 0.2 s of a slow phone's main thread; `encodeInto` writes it once, here.
 */
let scratch = new Uint8Array(64 * 1024);

/** The UTF-8 of `text`, in `scratch` (a view of it: valid until the next call). @param {string} text */
function encoded(text) {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  if (text.length * 3 > scratch.length) scratch = new Uint8Array(Math.max(text.length * 3, scratch.length * 2));
  const { written } = encoder.encodeInto(text, scratch);
  return scratch.subarray(0, written);
}

/** Route every sealed value of js/store.js through AES-GCM under the data key. */
export function install() {
  store.setCodec({
    async seal(value) {
      const key = dataKey;
      if (!key) throw new LockedError();
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, encoded(JSON.stringify(value)));
      return { iv, ct };
    },
    async open(stored) {
      const key = dataKey;
      if (!key) throw new LockedError();
      const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: stored.iv }, key, stored.ct);
      return JSON.parse(decoder.decode(plain));
    },
  });
}

/** Whether the data key is in memory (the app is open). */
export function held() {
  return dataKey !== null;
}

/** Whether a new PIN must be set before the app opens (after an online unlock without one). */
export function pinPending() {
  return rewrap !== null;
}

/** @returns {Promise<Keyring | undefined>} */
export async function keyring() {
  return store.getPlain(KEYRING);
}

/** @param {Keyring} ring */
async function save(ring) {
  await store.setPlain({ [KEYRING]: ring });
}

/** @param {string} b64 base64url without padding */
function fromBase64Url(b64) {
  const text = atob(b64.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** @param {string} serverKey the device's wrapping key as the server sent it */
async function serverKek(serverKey) {
  const raw = fromBase64Url(serverKey);
  const kek = await crypto.subtle.importKey("raw", raw, "AES-KW", false, ["wrapKey", "unwrapKey"]);
  raw.fill(0);
  return kek;
}

/** @param {string} pin @param {Uint8Array} salt @param {number} iterations */
async function pinKek(pin, salt, iterations) {
  const base = await crypto.subtle.importKey("raw", encoder.encode(pin), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    base,
    { name: "AES-KW", length: 256 },
    false,
    ["wrapKey", "unwrapKey"],
  );
}

/** @param {CryptoKey} kek @param {ArrayBuffer} wrapped @param {boolean} extractable */
function unwrap(kek, wrapped, extractable) {
  return crypto.subtle.unwrapKey("raw", wrapped, kek, "AES-KW", { name: "AES-GCM", length: 256 }, extractable, ["encrypt", "decrypt"]);
}

/** A non-extractable copy of an extractable key (what the app works with). @param {CryptoKey} key */
async function usable(key) {
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", key));
  const copy = await crypto.subtle.importKey("raw", raw, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  raw.fill(0);
  return copy;
}

/**
 * First sign-in on this installation: a new data key, wrapped under the server's device key. The
 * app is open, and a PIN must be set next.
 * @param {string} serverKey
 */
export async function create(serverKey) {
  const key = /** @type {CryptoKey} */ (await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]));
  const server = await crypto.subtle.wrapKey("raw", key, await serverKek(serverKey), "AES-KW");
  await save({ v: 1, created_at: Date.now(), server, pin: null, failures: 0 });
  dataKey = await usable(key);
  rewrap = key;
}

/**
 * An online sign-in: the server's device key opens the data key (a forgotten PIN, the offline
 * limit). Resolves false when that key does not open it.
 * @param {string} serverKey
 * @param {{newPin: boolean}} opts  ask for a new PIN even when one is set (the worker forgot it)
 */
export async function openWithServer(serverKey, opts) {
  const ring = await keyring();
  if (!ring) return false;
  let key;
  try {
    key = await unwrap(await serverKek(serverKey), ring.server, true);
  } catch {
    return false;
  }
  dataKey = await usable(key);
  rewrap = ring.pin && !opts.newPin ? null : key;
  if (ring.failures) await save({ ...ring, failures: 0 });
  return true;
}

/** Wrap the data key under a new PIN (after `create` or `openWithServer`). @param {string} pin */
export async function setPin(pin) {
  const ring = await keyring();
  if (!rewrap || !ring) throw new LockedError();
  const early = await derived(pin, null);
  const salt = early ? early.salt : crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const kek = early ? early.kek : await pinKek(pin, salt, PBKDF2_ITERATIONS);
  const wrapped = await crypto.subtle.wrapKey("raw", rewrap, kek, "AES-KW");
  await save({ ...ring, pin: { salt, iterations: PBKDF2_ITERATIONS, wrapped }, failures: 0 });
  rewrap = null;
}

/**
 * Try a PIN. A wrong one counts (before the attempt), and the fifth drops the PIN-wrapped copy.
 * @param {string} pin
 * @returns {Promise<{ok: true} | {ok: false, left: number} | {ok: false, dropped: true}>}
 */
export async function unlockWithPin(pin) {
  const ring = await keyring();
  if (!ring || !ring.pin) return { ok: false, dropped: true };
  const wrap = ring.pin;
  const counted = { ...ring, failures: ring.failures + 1 };
  // The PIN's key is derived while the count is written (deriving tries nothing); the key is tried
  // only once the count is on disk. A failed derivation is tried as a wrong PIN, as before.
  const kek = derived(pin, wrap).then(
    (early) => (early ? early.kek : pinKek(pin, wrap.salt, wrap.iterations)),
  ).catch(() => null);
  await save(counted);
  try {
    dataKey = await unwrap(/** @type {CryptoKey} */ (await kek), wrap.wrapped, false);
  } catch {
    if (counted.failures >= MAX_PIN_FAILURES) {
      await save({ ...counted, pin: null });
      return { ok: false, dropped: true };
    }
    return { ok: false, left: MAX_PIN_FAILURES - counted.failures };
  }
  await save({ ...counted, failures: 0 });
  return { ok: true };
}

/** Forget the PIN-wrapped copy (signing out with unsent records: only an online sign-in opens them). */
export async function dropPin() {
  const ring = await keyring();
  if (ring) await save({ ...ring, pin: null });
}

/** Drop the key from memory: the app is locked. */
export function lock() {
  dataKey = null;
  scratch.fill(0); // the last value sealed is not left in memory
  scratch = new Uint8Array(64 * 1024);
  rewrap = null;
  ahead = null;
  typedNext = null;
}

// ---- deriving a PIN's key while it is typed ----

/**
 * PBKDF2 (600,000 iterations) is most of what 「解除」 and 「設定」 wait for. The PIN screens call
 * `deriveAhead` as the PIN is typed, and the press takes the key derived for the same PIN (and, to
 * unlock, the same salt) instead of deriving it again. Deriving only derives: nothing is unwrapped
 * and the wrong-PIN count is untouched until the press, which counts before it tries, as always.
 * One derivation at a time (a PIN typed on is derived again once the one running ends); the press
 * never waits for a derivation of another PIN. The derived key is dropped when it is taken and at
 * every lock; it is a non-extractable CryptoKey in this page's memory, like the data key itself.
 * @typedef {{salt: Uint8Array, iterations: number, kek: CryptoKey}} Derived
 * @type {{pin: string, fresh: boolean, ready: Promise<Derived | null>} | null}
 */
let ahead = null;
/** The PIN (and kind) typed since the running derivation started, derived next. @type {{pin: string, fresh: boolean} | null} */
let typedNext = null;
let deriving = false;

/**
 * The PIN field changed. `fresh`: a new PIN is being set (a new random salt), else the stored PIN's
 * salt is used. Nothing happens for a value that cannot be a PIN or while the key is in memory (unless
 * a new PIN is pending).
 * @param {string} pin @param {boolean} fresh
 */
export function deriveAhead(pin, fresh) {
  // A new PIN must pass the rules; a stored one is only tried for its form.
  if (fresh ? pinProblem(pin) : !/^\d{6,12}$/.test(pin)) return;
  if (fresh ? !rewrap : dataKey) return;
  if (ahead && ahead.pin === pin && ahead.fresh === fresh) return;
  if (deriving) {
    typedNext = { pin, fresh };
    return;
  }
  deriving = true;
  const ready = (async () => {
    /** @type {Uint8Array} */
    let salt;
    let iterations = PBKDF2_ITERATIONS;
    if (fresh) salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
    else {
      const ring = await keyring();
      if (!ring || !ring.pin) return null;
      ({ salt, iterations } = ring.pin);
    }
    return { salt, iterations, kek: await pinKek(pin, salt, iterations) };
  })().catch(() => null);
  const mine = { pin, fresh, ready };
  ahead = mine;
  void ready.then(() => {
    deriving = false;
    const next = typedNext;
    typedNext = null;
    if (next) deriveAhead(next.pin, next.fresh);
  });
}

/**
 * The key derived ahead for this PIN, if any (taken: it is dropped here). `wrap`: the stored PIN's
 * salt and iterations it must have been derived with; null for a new PIN.
 * @param {string} pin @param {PinWrap | null} wrap
 * @returns {Promise<Derived | null>}
 */
async function derived(pin, wrap) {
  const early = ahead;
  ahead = null;
  typedNext = null;
  if (!early || early.pin !== pin || early.fresh !== !wrap) return null;
  if (!wrap) return early.ready;
  // Derived with the salt stored when it started: used only if that is still the PIN's.
  const got = await early.ready;
  if (!got || got.iterations !== wrap.iterations || !sameBytes(got.salt, wrap.salt)) return null;
  return got;
}

/** @param {Uint8Array} a @param {Uint8Array} b */
function sameBytes(a, b) {
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** PIN rules: 6–12 digits, not one digit repeated, not a run like 123456 or 987654. @param {string} pin */
export function pinProblem(pin) {
  if (!/^\d{6,12}$/.test(pin)) return "pwa.pin_format";
  const digits = [...pin].map(Number);
  const steps = new Set(digits.slice(1).map((d, i) => (d - digits[i] + 10) % 10));
  if (steps.size === 1 && (steps.has(0) || steps.has(1) || steps.has(9))) return "pwa.pin_too_weak";
  return null;
}
